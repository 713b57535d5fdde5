"""Workspaces for the reliability tests: the repository's workflow in a temp copy,
optionally with a generated pattern library, driven through the real `doit`."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.projects import Project, copy_project
from tests.support.doit import child_env, run_doit, spawn_doit
from doit_conductor.profiling import store

N_PATTERNS = 300
REPO = Path(__file__).resolve().parents[2]


def make_workspace(target: Path, patterns: int | None = None) -> Project:
    """A copy of the project; with `patterns`, a library of that size from the
    benchmark workload generator (benchmarks/workload.py).  A generator that
    fails fails the test, with its stderr: a workspace silently built some
    other way would test something else."""
    if patterns is None:
        return copy_project(target)
    result = subprocess.run([sys.executable, "-m", "benchmarks.workload", str(target),
                             "--patterns", str(patterns)],
                            capture_output=True, text=True, cwd=REPO)
    made = len(list((target / "patterns").glob("*.yaml")))
    if result.returncode != 0 or made != patterns:
        raise AssertionError(f"benchmarks.workload exited {result.returncode} with {made} of "
                             f"{patterns} patterns:\n{result.stderr}")
    return Project(target)


def spawn(project: Project, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start the real `doit` in the background, in a process group of its own."""
    return spawn_doit(project.root, *args, env=env)


def run(project: Project, *args: str, timeout: float = 300, **extra_env: str
        ) -> subprocess.CompletedProcess:
    return run_doit(project.root, *args, timeout=timeout, env=child_env(**extra_env))


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
