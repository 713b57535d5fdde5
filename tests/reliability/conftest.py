"""Workspaces for the reliability tests: the repository's workflow in a temp copy,
optionally with a generated pattern library, driven through the real `doit`."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Project, copy_project
from doit_conductor.profiling import store

N_PATTERNS = 300
REPO = Path(__file__).resolve().parents[2]


def write_patterns(patterns_dir: Path, count: int) -> None:
    """`count` entity and enum patterns modelled on patterns/*.yaml: every third an
    enum, each entity after the first three referencing the entity three before."""
    shutil.rmtree(patterns_dir, ignore_errors=True)
    patterns_dir.mkdir(parents=True)
    for i in range(count):
        if i % 3 == 2:
            name = f"state_{i:04d}"
            text = (f"name: {name}\nkind: enum\ndescription: States of thing {i}\n"
                    f"params:\n  values: [NEW, ACTIVE, DONE_{i}]\n  default: NEW\n")
        else:
            name = f"thing_{i:04d}"
            parent = f"thing_{i - 3:04d}" if i >= 3 else None
            text = (f"name: {name}\nkind: entity\ndescription: Thing number {i}\n"
                    + (f"depends_on: [{parent}]\n" if parent else "")
                    + "params:\n  primary_key: id\n  fields:\n"
                    "    - {name: id, type: int}\n"
                    "    - {name: title, type: str, max_length: 80}\n"
                    "    - {name: price, type: float, required: false}\n"
                    + (f"    - {{name: parent_id, type: int, references: {parent}}}\n"
                       if parent else ""))
        (patterns_dir / f"{name}.yaml").write_text(text)


def make_workspace(target: Path, patterns: int | None = None) -> Project:
    """A copy of the project; with `patterns`, a library of that size from the
    benchmark workload generator (benchmarks/workload.py), or generated here if that
    is not available."""
    if patterns is not None and (REPO / "benchmarks" / "workload.py").exists():
        result = subprocess.run([sys.executable, "-m", "benchmarks.workload", str(target),
                                 "--patterns", str(patterns)],
                                capture_output=True, text=True, cwd=REPO)
        if result.returncode == 0 and len(list((target / "patterns").glob("*.yaml"))) == patterns:
            return Project(target)
        shutil.rmtree(target, ignore_errors=True)
    project = copy_project(target)
    if patterns is not None:
        write_patterns(target / "patterns", patterns)
    return project


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for key in ("CONDUCTOR_LOCK_WAIT", "CONDUCTOR_LOCK_TIMEOUT"):
        env.pop(key, None)
    env.update(extra)
    return env


def _child_setup() -> None:
    # A process group of its own (Ctrl-C reaches doit and its workers, as
    # from a terminal) and the usual SIGINT handling even if we were started
    # with it ignored.
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(project: Project, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start the real `doit` in the background."""
    return subprocess.Popen([sys.executable, "-m", "doit", *args], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or child_env(), preexec_fn=_child_setup)


def run(project: Project, *args: str, timeout: float = 300, **extra_env: str
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=project.root,
                          capture_output=True, text=True, timeout=timeout,
                          env=child_env(**extra_env))


def kill_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def wait_for(condition, timeout: float = 30, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(interval)


def ran_records(project: Project) -> int:
    """How many tasks the newest (possibly running) run has recorded so far."""
    runs = store.list_runs(store.metrics_root(project.root))
    if not runs:
        return 0
    try:
        return (runs[-1] / store.TASKS).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def set_conductor(project: Project, table: str, text: str) -> None:
    """Replace the body of `[tool.conductor.<table>]` in the copy's pyproject.toml."""
    path = project.path("pyproject.toml")
    lines = path.read_text().splitlines(keepends=True)
    header = f"[tool.conductor.{table}]\n"
    out, skipping = [], False
    for line in lines:
        if line.startswith("["):
            skipping = line == header
            if skipping:
                out.append(header + text.rstrip("\n") + "\n\n")
                continue
        if not skipping:
            out.append(line)
    if header not in "".join(lines):
        out.append("\n" + header + text.rstrip("\n") + "\n")
    path.write_text("".join(out))


def stray_temps(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*.tmp"))


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """A failed run whose error is one line containing every needle; no traceback."""
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if all(n in line for n in needles)]
    assert lines, f"no line with {needles}:\n{text}"
    return lines[0]


@pytest.fixture(scope="session")
def reference(built_template) -> Project:
    """A clean sequential build of the repository's own 10 patterns (shared with
    the other suites' `built_template`: one cold build per session)."""
    return built_template


@pytest.fixture
def fresh(built) -> Project:
    """A private copy of the built reference project."""
    return built
