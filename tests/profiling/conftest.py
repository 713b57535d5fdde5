"""Helpers for the profiling tests: small doit projects in tmp dirs, run for real."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from doit_conductor.profiling import store

MB = 1024 * 1024


class Project:
    """A throw-away doit project: a dodo.py in a directory, no pyproject.toml."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def write_dodo(self, source: str) -> None:
        (self.path / "dodo.py").write_text(textwrap.dedent(source))

    def doit(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run the real doit (this interpreter's, with our plugins) in the project."""
        return subprocess.run([sys.executable, "-m", "doit", *args], cwd=self.path,
                              capture_output=True, text=True, timeout=timeout,
                              env=child_env(), preexec_fn=default_sigint)

    @property
    def metrics(self) -> Path:
        return store.metrics_root(self.path)

    def runs(self) -> list[Path]:
        return store.list_runs(self.metrics)

    def last_run(self) -> store.Run:
        runs = self.runs()
        assert runs, "no run directory was written"
        return store.load_run(runs[-1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the installed package, not this checkout by accident
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def default_sigint() -> None:
    # Shells start background jobs with SIGINT ignored, and children inherit
    # that; doit must get the usual KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def dodo_project(tmp_path: Path) -> Project:
    """An empty project of our own (not this repository's workflow)."""
    return Project(tmp_path / "proj")


def by_name(run: store.Run) -> dict:
    return {record.name: record for record in run.tasks}
