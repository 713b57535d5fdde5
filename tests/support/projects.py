"""Throw-away projects driven through the real `doit`: a copy of this repository's
workflow (`Project`), or a small doit project of a test's own (`DodoProject`)."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.support.doit import run_doit

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("dodo.py", "pyproject.toml", "tasks", "templates", "patterns")


@dataclass
class Project:
    """A throw-away copy of the workflow, driven through the real `doit` command."""

    root: Path

    def doit(self, *args: str, check: bool = False, timeout: float = 300,
             **kwargs) -> subprocess.CompletedProcess:
        return run_doit(self.root, *args, check=check, timeout=timeout, **kwargs)

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

    def built_patterns(self) -> set[str]:
        """Patterns codegen built in the newest run: a batch sub-task records each
        pattern it built as a `pattern_s:<name>` counter."""
        return {name.split(":", 1)[1] for record in self.last_run().values()
                if record.name.startswith("codegen:") for name in record.counters
                if name.startswith("pattern_s:")}

    def batch_of(self, pattern: str) -> str:
        """The codegen batch sub-task that builds `pattern` (from its records)."""
        from doit_conductor.state_files import read_state
        for path in sorted(self.path(".conductor/cache/batches").glob("*.json")):
            if pattern in read_state(path)["patterns"]:
                return f"codegen:{path.stem}"
        raise AssertionError(f"no codegen batch holds {pattern}")

    def statuses(self, prefix: str = "") -> dict[str, str]:
        return {name: r.status for name, r in self.last_run().items() if name.startswith(prefix)}


def copy_project(target: Path) -> Project:
    """A copy of the repository's workflow at `target` (nothing built yet)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return Project(target)


class DodoProject:
    """A throw-away doit project: a dodo.py in a directory, no pyproject.toml."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def write_dodo(self, source: str) -> None:
        (self.path / "dodo.py").write_text(textwrap.dedent(source))

    def doit(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return run_doit(self.path, *args, timeout=timeout)

    @property
    def metrics(self) -> Path:
        from doit_conductor.profiling import store
        return store.metrics_root(self.path)

    def runs(self) -> list[Path]:
        from doit_conductor.profiling import store
        return store.list_runs(self.metrics)

    def last_run(self):
        from doit_conductor.profiling import store
        runs = self.runs()
        assert runs, "no run directory was written"
        return store.load_run(runs[-1])
