"""`--reporter conductor`: doit's console output plus a metrics run directory.

The console shows what doit's console reporter shows (`.  task` when a task
runs, `-- task` when it is up to date, failures with their output), plus a
`[k/N] task took 0.21s, ~3.4s left` line after each executed task (N counting
the sub-tasks delayed creators made in the previous run; the estimate from
earlier runs' durations and this run's pace, see `progress.RunProgress`, and
none once a task failed: what is left then will not all run).  The run ends
with one closing line (`run_tally`): how many tasks ran, were up to date,
cached, failed or not run, the wall time, and which tasks a failure stopped.  A failure that is a one-line
`TaskFailed` without traceback (a user error such as
`patterns/x.yaml:3: unknown key 'nme'`) is shown as `ERROR: <task>: <message>`;
other failures keep doit's full report.

Every task that reaches an outcome becomes a `TaskRecord` appended to the run
directory as it finishes (see `doit_conductor.profiling.store`: records are
written in batches, at most half a second after they are made); at the end
the summary and the Chrome trace are written.  Earlier runs are read only when
the first progress line needs an estimate, so a run where all is up to date
reads none.  Figures come from the probe's
`Measurement`, which the `run` command's profiled runners attach to each task
(`wants_probe` asks for them); without it, wall time is taken here.

This class is the adapter between doit and the records: it reads doit's Task
objects and events and writes through the store; building records, the
summary and the outcomes of unfinished tasks are pure functions of
`doit_conductor.profiling.recording`.
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import doit
from doit.exceptions import BaseFail, TaskFailed, UnmetDependency
from doit.reporter import ConsoleReporter

from doit_conductor.errors import UserError
from doit_conductor.glue import compat
from doit_conductor.glue.creators import DelayedCreators
from doit_conductor.glue.execution import notes_of
from doit_conductor.glue.progress_lines import ProgressLines
from doit_conductor.profiling import codegen_summary, run_tally, store
from doit_conductor.profiling.clock import SYSTEM, Clock
from doit_conductor.profiling.probe import Measurement
from doit_conductor.profiling.recording import (
    INTERRUPTED, TaskPlace, final_summary, task_record, totals, unfinished)
from doit_conductor.profiling.recording import error_text as _error_text
from doit_conductor.profiling.records import (
    CACHED, FAILED, IGNORED, NOT_RUN, RAN, UP_TO_DATE, RunSummary, TaskRecord)
from doit_conductor.glue.runner import PROCESS, SERIAL, NoSuchTask

__all__ = ["ConductorReporter", "error_text", "is_user_error", "task_place", "totals"]
from doit_conductor.profiling.task_profiles import task_numbers

BY_REPORTER_CLOCK = "reporter-clock"


class ConductorReporter(ConsoleReporter):
    """Console output plus per-task metrics under .conductor/metrics/ (doit-conductor)."""

    desc = "console output plus per-task time and resources in .conductor/metrics"
    wants_probe = True  # the `run` command then measures each task where it runs
    verbosity = 1       # doit's -v, set by the profiled runner
    clock: Clock = SYSTEM   # where it reads the time (a test gives its own)

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self._mode = SERIAL
        self._workers = 0
        self._tasks: dict = {}
        self._creators = DelayedCreators({})
        self._progress = ProgressLines({}, [], self.clock)
        self._records: dict[str, TaskRecord] = {}
        self._records_skipped: set[str] = set()  # names that turned out to be no task
        self._started: dict[str, tuple[float, float]] = {}
        self._worker_index: dict[int, int] = {}
        self._writer: store.RunWriter | None = None
        self._root: Path | None = None
        self._summary: RunSummary | None = None
        self._start_mono = self.clock.monotonic()

    # -- set-up ---------------------------------------------------------

    def set_run_shape(self, mode: str, workers: int) -> None:
        """Called by the profiled runner: serial, process or thread, and `-n`."""
        self._mode = mode if workers else SERIAL
        self._workers = workers

    def initialize(self, tasks, selected_tasks):
        super().initialize(tasks, selected_tasks)
        self._tasks = tasks
        self._creators = DelayedCreators(tasks)
        self._progress = ProgressLines(tasks, list(selected_tasks), self.clock)
        self._start_mono = self.clock.monotonic()
        start = self.clock.wall()
        project = Path.cwd()  # doit has already moved to the dodo file's directory
        self._root = store.metrics_root(project)
        self._summary = RunSummary(
            run_id=store.new_run_id(start, os.getpid()),
            command=("doit", *sys.argv[1:]),
            doit_version=".".join(str(part) for part in doit.__version__),
            workers=self._workers, parallel_type=self._mode,
            start=start, end=None, wall_s=None,
            counts={}, totals={}, host=host_info(), completed=False)
        try:
            self._writer = store.RunWriter(self._root, self._summary)
            store.prune_runs(self._root, store.keep_runs_setting(project, sys.stderr.write),
                             spare=self._writer.path)
        except (OSError, UserError) as exc:
            # Metrics are a by-product: a read-only tree must not stop the build,
            # and a link at .conductor/metrics is refused (not written through).
            sys.stderr.write(f"WARNING: conductor reporter: not recording metrics: {exc}\n")
            self._writer = None

    # -- task events ----------------------------------------------------

    def execute_task(self, task):
        super().execute_task(task)
        # Fallback clock for runs without probes; in thread mode this is
        # called from the worker thread, and a dict store is atomic.
        self._started[task.name] = (self.clock.wall(), self.clock.monotonic())

    def add_success(self, task):
        super().add_success(task)
        notes = notes_of(task)
        self._finish(task, CACHED if notes is not None and notes.cached else RAN)

    def add_failure(self, task, fail: BaseFail):
        if isinstance(fail, NoSuchTask):
            # Not a task: one line, and no record of it in the run.
            self.write(f"ERROR: {fail.message}\n")
            self._records_skipped.add(task.name)
            self._progress.forget(task.name)
            return
        if is_user_error(fail):
            self.write(f"ERROR: {task.name}: {fail.message.strip()}\n")
            if _captured_output(task):
                # complete_run shows the output doit captured, as doit does.
                compat.show_output_at_end(self, task, fail)
        else:
            super().add_failure(task, fail)
        status = NOT_RUN if isinstance(fail, UnmetDependency) else FAILED
        self._progress.failed = self._progress.failed or status == FAILED
        self._finish(task, status, error_text(fail))

    def skip_uptodate(self, task):
        super().skip_uptodate(task)
        self._finish(task, UP_TO_DATE)

    def skip_ignore(self, task):
        super().skip_ignore(task)
        self._finish(task, IGNORED)

    def _finish(self, task, status: str, error: str | None = None) -> None:
        if task.name in self._records or task.name in self._records_skipped:
            return  # one outcome per task
        notes = notes_of(task)
        measurement = notes.measurement if notes is not None else None
        if measurement is None and status in (RAN, FAILED) and task.name in self._started:
            measurement = self._started_measurement(task.name, failed=status == FAILED)
        host = notes.host if notes is not None else None
        worker = self._worker_of(measurement, host) if measurement is not None else None
        place = task_place(task, self._creators.create_after(task.name))
        record = task_record(task.name, status, place, measurement, worker, error, host=host)
        self._records[task.name] = record
        worked = status in (RAN, FAILED) and measurement is not None and task.actions
        self._progress.finished(task.name, record.wall_s if worked else None)
        if self._writer is not None:
            self._writer.append(record)
        if (measurement is not None and task.actions and not task.name.startswith("_")
                and error != INTERRUPTED):
            self._write_progress(task.name, record.wall_s)

    def _started_measurement(self, name: str, *, failed: bool) -> Measurement:
        epoch, mono = self._started[name]
        return Measurement(epoch, self.clock.monotonic() - mono, None, None, None, None, None, None,
                           None, int(failed), os.getpid(), BY_REPORTER_CLOCK)

    def _worker_of(self, measurement: Measurement, host: str | None) -> int:
        if self._mode == SERIAL or (self._mode == PROCESS and host is None
                                    and measurement.worker_key == os.getpid()):
            return 0   # doit's own process: under -n, a hit restored before dispatch
        # Workers are numbered 1..N by their first finished task.
        return self._worker_index.setdefault(measurement.worker_key, len(self._worker_index) + 1)

    def _write_progress(self, name: str, wall_s: float) -> None:
        line = self._progress.line(name, wall_s, self._workers, self._history)
        if line is not None:
            self.write(line + "\n")

    def _history(self) -> tuple[Path, Path | None] | None:
        """Where earlier runs are, and this run's directory (not one of them)."""
        if self._root is None:
            return None
        return self._root, self._writer.path if self._writer else None

    # -- the end --------------------------------------------------------

    def complete_run(self):
        # Inside doit's `finally`: an exception in flight means an interrupted run.
        interrupted = sys.exc_info()[1] is not None
        stopped = interrupted or any(r.status == FAILED for r in self._records.values())
        for name, status, error in unfinished(self._started, self._records,
                                              self._progress.in_run(), stopped):
            if name in self._tasks:  # not a sub-task only expected from the last run
                self._finish(self._tasks[name], status, error)
        closing = self._progress.closing()
        if closing is not None:
            self.write(closing + "\n")
        self._write_cache_line()
        super().complete_run()
        codegen = codegen_summary.codegen_summary(tuple(self._records.values()), self._workers,
                                                  self._meta_numbers(codegen_summary.PATTERNS_META))
        if codegen is not None and codegen.did_work and self.verbosity > 0:
            self.write("".join(f"{line}\n" for line in codegen_summary.summary_lines(codegen)))
        wall_s = self.clock.monotonic() - self._start_mono
        if self.verbosity > 0:
            tally = run_tally.run_tally(tuple(self._records.values()), tuple(self._tasks))
            self.write("".join(f"{line}\n" for line in run_tally.closing_lines(
                tally, wall_s, interrupted=interrupted)))
        if self._writer is None or self._summary is None:
            return
        from doit_conductor.profiling.trace import chrome_trace  # only needed once, at the end
        summary = final_summary(
            self._summary, tuple(self._records.values()),
            self.clock.wall(), wall_s, completed=not interrupted,
            codegen=codegen and codegen_summary.to_json(codegen),
            task_numbers=task_numbers((n, getattr(t, "meta", None)) for n, t in self._tasks.items()))
        try:
            self._writer.finish(summary, chrome_trace(summary, tuple(self._records.values())))
        except OSError as exc:
            sys.stderr.write(f"WARNING: conductor reporter: metrics not finished: {exc}\n")

    def _meta_numbers(self, key: str) -> dict[str, int]:
        """The whole number each of the run's tasks declares in its meta under `key`."""
        metas = ((name, getattr(self._tasks.get(name), "meta", None)) for name in self._records)
        return {name: value for name, meta in metas if isinstance(meta, dict)
                and type(value := meta.get(key)) is int}

    def _write_cache_line(self) -> None:
        # Only runs that consulted the action cache have its counters.
        if not any(r.counters.get("action_cache_hits") or r.counters.get("action_cache_misses")
                   for r in self._records.values()):
            return
        from doit_conductor.scale.cache_summary import cache_totals, summary_line
        line = summary_line(cache_totals(r.counters for r in self._records.values()))
        if line:
            self.write(line + "\n")


def is_user_error(fail: BaseFail) -> bool:
    """A one-line TaskFailed without traceback: the task's own verdict, not a bug."""
    message = (fail.message or "").strip()
    return (isinstance(fail, TaskFailed) and fail.report and not fail.traceback
            and bool(message) and "\n" not in message)


def error_text(fail: BaseFail) -> str:
    """What a record keeps of a failure: its kind, message and the exception line."""
    return _error_text(fail.get_name(), fail.message, fail.traceback)


def task_place(task, create_after: str | None) -> TaskPlace:
    """A doit Task's place in the graph, read when it finishes (calc_dep results included)."""
    return TaskPlace(task_dep=tuple(task.task_dep), setup=tuple(task.setup_tasks),
                     calc_dep=tuple(sorted(task.calc_dep)), file_dep=tuple(sorted(task.file_dep)),
                     targets=tuple(task.targets), create_after=create_after)


def host_info() -> dict[str, object]:
    """The machine the run ran on."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return {"cores": os.cpu_count(), "memory_bytes": memory, "platform": sys.platform,
            "machine": platform.machine(), "python": platform.python_version(),
            "hostname": platform.node()}


def _captured_output(task) -> bool:
    return any(action.out or action.err for action in task.actions)
