"""The metrics directory: where runs are written, kept, promoted and read.

Layout under `<project>/.conductor/metrics/`::

    runs/<run-id>/summary.json   RunSummary; `completed` false until the run ends
    runs/<run-id>/tasks.jsonl    one TaskRecord a line, appended as tasks finish
    runs/<run-id>/trace.json     Chrome Trace Event Format, written at the end
    baselines/<name>/            a copy of a run a user promoted

Run ids are a UTC timestamp plus the pid (`20261124T113318.123456Z-12345`), so
names sort by start time.  `summary.json` and `trace.json` are replaced
atomically; `tasks.jsonl` grows one whole line per write, so a run killed
midway leaves at worst a torn last line, which the reader drops for a run that
never completed (and reports as an error for one that claims it did).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tasks.fsio import atomic_write, dump_json
from tasks.profiling.records import (
    RAN, RecordError, RunSummary, TaskRecord, run_summary_from_json, run_summary_to_json,
    task_record_from_json, task_record_to_json)

DEFAULT_KEEP_RUNS = 50
SUMMARY = "summary.json"
TASKS = "tasks.jsonl"
TRACE = "trace.json"

_RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-\d+$")
_BASELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Run:
    """One recorded run as read back from its directory."""

    path: Path
    summary: RunSummary
    tasks: tuple[TaskRecord, ...]


# -- layout ---------------------------------------------------------------

def metrics_root(project_dir: Path) -> Path:
    """The metrics directory of a project."""
    return Path(project_dir) / ".conductor" / "metrics"


def runs_dir(root: Path) -> Path:
    return Path(root) / "runs"


def baseline_dir(root: Path, name: str) -> Path:
    """Where the baseline `name` lives (validated, not necessarily existing)."""
    _check_baseline_name(name)
    return Path(root) / "baselines" / name


def new_run_id(epoch: float, pid: int) -> str:
    """A run id that sorts by start time: UTC timestamp with microseconds, then pid."""
    stamp = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{pid}"


def list_runs(root: Path) -> list[Path]:
    """Run directories under `root`, oldest first (complete or not)."""
    try:
        entries = list(os.scandir(runs_dir(root)))
    except FileNotFoundError:
        return []
    runs = [Path(e.path) for e in entries if _RUN_ID.match(e.name) and e.is_dir()]
    return sorted(runs, key=lambda p: p.name)


def keep_runs_setting(project_dir: Path) -> int:
    """`[tool.conductor.metrics] keep_runs` of the project's pyproject.toml, else 50."""
    try:
        with open(Path(project_dir) / "pyproject.toml", "rb") as handle:
            config = tomllib.load(handle)
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return DEFAULT_KEEP_RUNS
    value = config.get("tool", {}).get("conductor", {}).get("metrics", {}).get("keep_runs")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return DEFAULT_KEEP_RUNS
    return value


def prune_runs(root: Path, keep: int, *, spare: Path | None = None) -> list[Path]:
    """Delete all but the `keep` newest runs; never `spare` (the run being written)."""
    runs = list_runs(root)
    doomed = [r for r in runs[:max(0, len(runs) - keep)] if r != spare]
    for run in doomed:
        shutil.rmtree(run, ignore_errors=True)
    return doomed


# -- writing --------------------------------------------------------------

class RunWriter:
    """Writes one run directory as the run proceeds."""

    def __init__(self, root: Path, summary: RunSummary) -> None:
        self.path = runs_dir(root) / summary.run_id
        self.path.mkdir(parents=True, exist_ok=False)
        # Up front, so a run killed at any point says it is incomplete.
        atomic_write(self.path / SUMMARY, dump_json(run_summary_to_json(summary)))
        self._tasks_fd = os.open(self.path / TASKS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)

    def append(self, record: TaskRecord) -> None:
        """Add one finished task: one whole line per write() call."""
        line = json.dumps(task_record_to_json(record), separators=(",", ":"),
                          ensure_ascii=False) + "\n"
        os.write(self._tasks_fd, line.encode())

    def finish(self, summary: RunSummary, trace: dict) -> None:
        """Write the trace, then the final summary (last: it marks completion)."""
        self.close()
        atomic_write(self.path / TRACE, json.dumps(trace, separators=(",", ":")).encode())
        atomic_write(self.path / SUMMARY, dump_json(run_summary_to_json(summary)))

    def close(self) -> None:
        if self._tasks_fd is not None:
            os.close(self._tasks_fd)
            self._tasks_fd = None


# -- reading --------------------------------------------------------------

def load_run(run_dir: Path) -> Run:
    """Read a run directory; `RecordError` with a one-line message when it is unusable."""
    run_dir = Path(run_dir)
    summary = run_summary_from_json(_read_json(run_dir / SUMMARY))
    tasks = _read_tasks(run_dir / TASKS, completed=summary.completed)
    return Run(run_dir, summary, tasks)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise RecordError(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not valid JSON ({exc})") from None


def _read_tasks(path: Path, *, completed: bool) -> tuple[TaskRecord, ...]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if completed:
            raise RecordError(f"{path}: missing") from None
        return ()
    lines = data.split(b"\n")
    # A write cut short by a kill leaves a last line without its newline.
    torn = lines.pop()
    if torn and completed:
        raise RecordError(f"{path}: last line is incomplete in a run marked completed")
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(task_record_from_json(json.loads(line)))
        except ValueError as exc:  # RecordError is a ValueError too
            raise RecordError(f"{path}:{number}: {exc}") from None
    return tuple(records)


def previous_durations(root: Path, wanted: set[str], *, exclude: Path | None = None,
                       max_runs: int = 3) -> dict[str, float]:
    """Wall time of each wanted task the last time it ran, from the newest runs.

    A cheap read for progress estimates: it looks back `max_runs` runs at most,
    stops once every wanted task is found, and skips whatever it cannot parse.
    """
    found: dict[str, float] = {}
    runs = [r for r in list_runs(root) if r != exclude][-max_runs:]
    for run in reversed(runs):
        try:
            lines = (run / TASKS).read_bytes().split(b"\n")
        except OSError:
            continue
        for line in lines:
            try:
                data = json.loads(line)
                name, status, wall = data["name"], data["status"], float(data["wall_s"])
            except (ValueError, KeyError, TypeError):
                continue
            if status == RAN and name in wanted and name not in found:
                found[name] = wall
        if len(found) == len(wanted):
            break
    return found


# -- baselines ------------------------------------------------------------

def promote_baseline(root: Path, run_dir: Path, name: str) -> Path:
    """Copy a completed run to `baselines/<name>/`, replacing an older one of that name."""
    target = baseline_dir(root, name)
    run = load_run(run_dir)  # refuse garbage before touching the baselines
    if not run.summary.completed:
        raise RecordError(f"{run_dir}: run did not complete; not promoting it to a baseline")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp"))
    try:
        for item in (SUMMARY, TASKS, TRACE):
            if (run.path / item).exists():
                shutil.copy2(run.path / item, staging / item)
        # Swap in by renames so readers never see a half-copied baseline.
        old = None
        if target.exists():
            old = target.parent / f".{name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.rename(target, old)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _check_baseline_name(name: str) -> None:
    if not isinstance(name, str) or not _BASELINE_NAME.match(name):
        raise RecordError(
            f"baseline name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
