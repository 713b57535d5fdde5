"""The metrics directory: where runs are written, kept, promoted and read.

Layout under `<project>/.conductor/metrics/`::

    runs/<run-id>/summary.json   RunSummary; `completed` false until the run ends
    runs/<run-id>/tasks.jsonl    one TaskRecord a line, appended as tasks finish
    runs/<run-id>/trace.json     Chrome Trace Event Format, written at the end
    runs/<run-id>/durations.json wall time of each task that ran, written at the end
    baselines/<name>/            a copy of a run a user promoted

Run ids are a UTC timestamp plus the pid (`20261124T113318.123456Z-12345`), so
names sort by start time.  `summary.json`, `trace.json` and `durations.json`
are replaced atomically; `tasks.jsonl` grows by whole lines, written in
batches (records are held at most `HOLD_S`, then written together by a timer
thread, so a run of many short tasks pays a few writes, not one per task, and a
run killed during a long task has written every record from before it), so a
run killed midway leaves at worst a torn last line,
which the reader drops for a run that never completed (and reports as an error
for one that claims it did).  `durations.json` is an index for the progress
estimate of later runs, which then reads one small file instead of parsing
every line of `tasks.jsonl`.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from doit_conductor import safe_fs
from doit_conductor.config import Config, load_config
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write, dump_json
from doit_conductor.profiling.records import (
    RAN, SCHEMA_VERSION, RecordError, RunSummary, TaskRecord, run_summary_from_json,
    run_summary_to_json, task_record_from_json, task_record_to_json)
from doit_conductor.profiling.task_profiles import task_profiles

DEFAULT_KEEP_RUNS = Config().keep_runs
SUMMARY = "summary.json"
STALE_STAGING_S = 60.0
TASKS = "tasks.jsonl"
TRACE = "trace.json"
DURATIONS = "durations.json"
HOLD_S = 0.5  # longest a record waits to be written

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
    """Run directories under `root`, oldest first (complete or not).  Not a
    listing the fast no-op watches: a run's verdicts do not rest on the runs
    recorded (a run adds one after the progress lines read them)."""
    try:
        with safe_fs.unobserved():
            entries = safe_fs.entries(runs_dir(root))
    except UserError:
        return []  # a link at metrics/ or runs/: not followed (the writer says so)
    runs = [runs_dir(root) / e.name for e in entries
            if _RUN_ID.fullmatch(e.name) and e.kind == safe_fs.DIRECTORY]
    return sorted(runs, key=lambda p: p.name)


def keep_runs_setting(project_dir: Path, warn: Callable[[str], object] = lambda _: None) -> int:
    """`[tool.conductor.metrics] keep_runs` of the project's pyproject.toml; the
    default (50) where there is none, or where the config does not validate,
    which `warn` is told in one line (in a project without this workflow's
    task 2, nothing else would say it)."""
    try:
        return load_config(project_dir).keep_runs
    except UserError as exc:
        warn(f"WARNING: {exc}; the conductor reporter keeps the newest "
             f"{DEFAULT_KEEP_RUNS} runs\n")
        return DEFAULT_KEEP_RUNS


def prune_runs(root: Path, keep: int, *, spare: Path | None = None) -> list[Path]:
    """Delete all but the `keep` newest runs; never `spare` (the run being written).
    Not a listing the fast no-op watches: a run's verdicts do not rest on it."""
    with safe_fs.unobserved():
        return _prune_runs(root, keep, spare)


def _prune_runs(root: Path, keep: int, spare: Path | None) -> list[Path]:
    runs = list_runs(root)
    doomed = [r for r in runs[:max(0, len(runs) - keep)] if r != spare]
    for run in doomed:
        safe_fs.remove(run)   # links inside are deleted as links, never followed
    # staging directories of runs killed before their first rename
    for staging in safe_fs.entries(runs_dir(root)):
        if staging.name.startswith(".") and staging.name.endswith(".tmp") \
                and time.time() - staging.mtime > STALE_STAGING_S:
            safe_fs.remove(staging.path)
    return doomed


# -- writing --------------------------------------------------------------

class RunWriter:
    """Writes one run directory as the run proceeds.

    Records are held and written together: `HOLD_S` after the first one held
    (by a timer thread, so also while doit's thread runs a long task), when
    `flush` is called, or at the end.  A run of a thousand quick tasks thus
    costs a few write() calls, not a thousand, and a run killed during a long
    task has recorded everything before it.  Thread-safe: the timer, and in
    thread mode the reporter's calls from worker threads.
    """

    def __init__(self, root: Path, summary: RunSummary) -> None:
        self.path = runs_dir(root) / summary.run_id
        # The directory appears with its summary (completed: false) already in
        # it, by renaming a hidden one into place: a run killed at any moment
        # leaves nothing or a run that says it is incomplete, never a directory
        # without a summary.
        staging = runs_dir(root) / f".{summary.run_id}.tmp"
        # made without following a link on the way: a `.conductor/metrics` or
        # `metrics/runs` link is refused by name (UserError), not written through
        safe_fs.make_dirs(runs_dir(root))
        os.mkdir(staging)
        try:
            atomic_write(staging / SUMMARY, dump_json(run_summary_to_json(summary)))
            os.rename(staging, self.path)
        except OSError:
            safe_fs.remove(staging)  # a full disk leaves nothing behind
            raise
        self._tasks_fd: int | None = os.open(
            self.path / TASKS, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
            | os.O_CLOEXEC, 0o666)
        self._lock = threading.Lock()
        self._held: list[str] = []
        self._held_since = 0.0
        self._timer: threading.Timer | None = None
        self._durations: dict[str, float] = {}

    def append(self, record: TaskRecord) -> None:
        """Add one finished task (as one whole line of tasks.jsonl, soon)."""
        # orjson (dump_json): a batch's record carries a counter per pattern
        # and phase, and the stdlib encoder took 11 ms for a cold build's 95
        # records, in doit's own process, which restores cached batches itself
        line = dump_json(task_record_to_json(record))[:-1].decode()
        with self._lock:
            if record.status == RAN:
                self._durations.setdefault(record.name, record.wall_s)
            if not self._held:
                self._held_since = time.monotonic()
            self._held.append(line)
            if time.monotonic() - self._held_since >= HOLD_S:
                self._write_held()
            elif self._timer is None and self._tasks_fd is not None:
                # One short-lived thread per batch: doit's thread may be inside
                # a task that runs for minutes, or be killed in one.
                self._timer = threading.Timer(HOLD_S, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the records held so far."""
        with self._lock:
            self._write_held()

    def finish(self, summary: RunSummary, trace: dict) -> None:
        """Write the trace and durations, then the final summary (last: it marks completion)."""
        self.close()
        atomic_write(self.path / TRACE, json.dumps(trace, separators=(",", ":")).encode())
        atomic_write(self.path / DURATIONS, json.dumps(
            {"schema_version": SCHEMA_VERSION, "ran": self._durations},
            separators=(",", ":"), ensure_ascii=False).encode())
        atomic_write(self.path / SUMMARY, dump_json(run_summary_to_json(summary)))

    def close(self) -> None:
        with self._lock:
            self._write_held()
            if self._tasks_fd is not None:
                os.close(self._tasks_fd)
                self._tasks_fd = None

    def _write_held(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if not self._held or self._tasks_fd is None:
            return
        data = ("\n".join(self._held) + "\n").encode()
        self._held = []
        # Whole lines only; a short write continues where it stopped, so the
        # file is always whole lines plus, if killed mid-write, one torn line.
        view = memoryview(data)
        while view:
            view = view[os.write(self._tasks_fd, view):]


# -- reading --------------------------------------------------------------

def load_run(run_dir: Path) -> Run:
    """Read a run directory; `RecordError` with a one-line message when it is unusable."""
    run_dir = Path(run_dir)
    try:
        summary = run_summary_from_json(_read_json(run_dir / SUMMARY))
    except RecordError as exc:
        message = str(exc)
        if not message.startswith(str(run_dir)):  # say which file, as for the others
            message = f"{run_dir / SUMMARY}: {message}"
        raise RecordError(message) from None
    tasks = _read_tasks(run_dir / TASKS, completed=summary.completed)
    return Run(run_dir, summary, tasks)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(safe_fs.read_bytes(path))
    except FileNotFoundError:
        raise RecordError(f"{path}: missing") from None
    except UserError as exc:
        raise RecordError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not valid JSON ({exc})") from None


def _read_tasks(path: Path, *, completed: bool) -> tuple[TaskRecord, ...]:
    try:
        data = safe_fs.read_bytes(path)
    except FileNotFoundError:
        if completed:
            raise RecordError(f"{path}: missing") from None
        return ()
    except UserError as exc:
        raise RecordError(str(exc)) from None
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
    A finished run is read from its `durations.json` (one small document); a
    run without one (killed, or written before it existed) from the lines of
    `tasks.jsonl` that can be records of tasks that ran.
    """
    found: dict[str, float] = {}
    runs = [r for r in list_runs(root) if r != exclude][-max_runs:]
    for run in reversed(runs):
        ran = _ran_durations(run)
        for name in wanted.intersection(ran).difference(found):
            found[name] = ran[name]
        if len(found) == len(wanted):
            break
    return found


def previous_subtasks(root: Path, creators: set[str], *, exclude: Path | None = None
                      ) -> set[str]:
    """Names of the sub-tasks (`creator:...`) of `creators` in the newest other run.

    What the progress total expects a delayed creator to make before it has
    run; skips whatever it cannot parse.
    """
    if not creators:
        return set()
    prefixes = tuple(f'"name":"{creator}:'.encode() for creator in creators)
    for run in reversed([r for r in list_runs(root) if r != exclude]):
        try:
            lines = safe_fs.read_bytes(run / TASKS).split(b"\n")
        except (OSError, UserError):
            continue
        names = set()
        for line in lines:
            if not line.startswith(b"{") or not any(p in line for p in prefixes):
                continue  # cannot be a record of such a sub-task: skip the parse
            try:
                name = json.loads(line)["name"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(name, str) and name.split(":", 1)[0] in creators:
                names.add(name)
        return names
    return set()


def _ran_durations(run: Path) -> dict[str, float]:
    """name -> wall time of the tasks that ran in `run` (first record of a name wins)."""
    try:
        data = json.loads(safe_fs.read_bytes(run / DURATIONS))
        ran = data["ran"]
        if data["schema_version"] == SCHEMA_VERSION and isinstance(ran, dict):
            return {name: float(wall) for name, wall in ran.items()}
    except (OSError, ValueError, KeyError, TypeError, UserError):
        pass
    durations: dict[str, float] = {}
    try:
        lines = safe_fs.read_bytes(run / TASKS).split(b"\n")
    except (OSError, UserError):
        return durations
    for line in lines:
        if b'"ran"' not in line:
            continue  # cannot be a record of a task that ran: skip the parse
        try:
            data = json.loads(line)
            name, status, wall = data["name"], data["status"], float(data["wall_s"])
        except (ValueError, KeyError, TypeError):
            continue
        if status == RAN and isinstance(name, str) and name not in durations:
            durations[name] = wall
    return durations


# -- baselines ------------------------------------------------------------

def promote_baseline(root: Path, run_dir: Path, name: str) -> Path:
    """Copy a completed run to `baselines/<name>/`, replacing an older one of that name."""
    target = baseline_dir(root, name)
    run = load_run(run_dir)  # refuse garbage before touching the baselines
    if not run.summary.completed:
        raise RecordError(f"{run_dir}: run did not complete; not promoting it to a baseline")
    safe_fs.make_dirs(target.parent)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp"))
    try:
        for item in (TASKS, TRACE, DURATIONS):
            try:
                atomic_write(staging / item, safe_fs.read_bytes(run.path / item))
            except FileNotFoundError:
                pass
        # The review's layout: task-<N>-profile.json per workflow task, and
        # summary.json = the run summary plus the per-task aggregate.
        for file_name, document in task_profiles(run.summary, run.tasks).items():
            atomic_write(staging / file_name, dump_json(document))
        # Swap in by renames so readers never see a half-copied baseline.
        old = None
        if target.exists():
            old = target.parent / f".{name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.rename(target, old)
        os.rename(staging, target)
    except BaseException:
        safe_fs.remove(staging)
        raise
    if old is not None:
        safe_fs.remove(old)
    return target


def _check_baseline_name(name: str) -> None:
    if not isinstance(name, str) or not _BASELINE_NAME.fullmatch(name):
        raise RecordError(
            f"baseline name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
