"""The benchmarks' plain-doit references build what Task 8 builds, byte for byte.

The speed figures compare against them (benchmarks/reference/), so they must
keep working with this repository's templates: a template that starts using a
new filter would otherwise break only the benchmark run, long after the change.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project

REFERENCES = Path(__file__).resolve().parents[2] / "benchmarks" / "reference"


def output_tree(root: Path) -> dict[str, bytes]:
    base = root / "output"
    return {str(p.relative_to(base)): p.read_bytes()
            for p in sorted(base.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("style", ["dodo.py", "careful_dodo.py"])
def test_reference_builds_the_same_files_as_codegen(project: Project, tmp_path, style):
    project.doit("codegen", check=True)
    reference = tmp_path / "reference"
    reference.mkdir()
    for name in ("patterns", "templates"):
        shutil.copytree(project.path(name), reference / name)
    shutil.copy2(REFERENCES / style, reference / "dodo.py")
    result = subprocess.run([sys.executable, "-m", "doit", "-n", "2"], cwd=reference,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert output_tree(reference) == output_tree(project.root)
