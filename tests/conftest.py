"""Shared fixtures: a temporary copy of the project and the real `doit` in a subprocess."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("dodo.py", "pyproject.toml", "tasks", "templates", "patterns")


def pytest_addoption(parser):
    parser.addoption("--stress", action="store_true", default=False,
                     help="run the long crash/stress variants")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--stress"):
        return
    skip = pytest.mark.skip(reason="stress variant: run with --stress")
    for item in items:
        if "stress" in item.keywords:
            item.add_marker(skip)


@dataclass
class Project:
    """A throw-away copy of the workflow, driven through the real `doit` command."""

    root: Path

    def doit(self, *args: str, check: bool = False, timeout: float = 300,
             **kwargs) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        result = subprocess.run([sys.executable, "-m", "doit", *args], cwd=self.root,
                                capture_output=True, text=True, timeout=timeout, env=env,
                                **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"doit {' '.join(args)} exited {result.returncode}\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def path(self, relative: str) -> Path:
        return self.root / relative

    def tree(self, relative: str = "output") -> dict[str, str]:
        """sha256 of every file below `relative`, by relative path."""
        base = self.root / relative
        return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(base.rglob("*")) if p.is_file()}

    def mtimes(self, relative: str = "output") -> dict[str, int]:
        base = self.root / relative
        return {str(p.relative_to(base)): p.stat().st_mtime_ns
                for p in sorted(base.rglob("*")) if p.is_file()}

    def last_run(self):
        """The newest run's records, by task name (from the profiling reporter)."""
        from doit_conductor.profiling.store import list_runs, load_run, metrics_root
        run = load_run(list_runs(metrics_root(self.root))[-1])
        return {record.name: record for record in run.tasks}

    def did_nothing(self, result: subprocess.CompletedProcess,
                    allowed: frozenset[str] = frozenset({"up-to-date", "ignored"})) -> bool:
        """The run had nothing to do: the fast no-op said so (no task was even
        created, so the run left no record), or every task it recorded was up to date."""
        if result.stdout.startswith("up to date: "):
            return True
        return set(self.statuses().values()) <= allowed

    def statuses(self, prefix: str = "") -> dict[str, str]:
        return {name: r.status for name, r in self.last_run().items() if name.startswith(prefix)}


def copy_project(target: Path) -> Project:
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return Project(target)


@pytest.fixture
def project(tmp_path) -> Project:
    """A fresh copy of the repository's workflow (nothing built yet)."""
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def built_template(tmp_path_factory) -> Project:
    """One cold build of the workflow, shared read-only by the tests of a session."""
    built = copy_project(tmp_path_factory.mktemp("built") / "project")
    built.doit(check=True)
    return built


@pytest.fixture
def built(built_template, tmp_path) -> Project:
    """A private copy of a project that has been built once (faster than building)."""
    target = tmp_path / "built"
    shutil.copytree(built_template.root, target, symlinks=True)
    return Project(target)
