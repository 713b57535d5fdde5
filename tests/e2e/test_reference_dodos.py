"""The benchmarks' plain-doit references build what Task 8 builds, byte for byte.

The speed figures compare against them (benchmarks/reference/), so they must
keep working with this repository's templates: a template that starts using a
new filter would otherwise break only the benchmark run, long after the change.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.doit import run_doit
from tests.support.projects import Project

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

REFERENCES = Path(__file__).resolve().parents[2] / "benchmarks" / "reference"


@pytest.mark.parametrize("style", ["dodo.py", "careful_dodo.py"])
def test_reference_builds_the_same_files_as_codegen(project: Project, tmp_path, style):
    project.doit("codegen", check=True)
    reference = tmp_path / "reference"
    reference.mkdir()
    for name in ("patterns", "templates"):
        shutil.copytree(project.path(name), reference / name)
    shutil.copy2(REFERENCES / style, reference / "dodo.py")
    run_doit(reference, "-n", "2", check=True)
    assert Project(reference).tree() == project.tree()
