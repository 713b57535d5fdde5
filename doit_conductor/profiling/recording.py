"""What the reporter saw, made into records: pure functions, no doit, no I/O.

The `conductor` reporter (`doit_conductor.glue.reporter`) is the adapter
that reads doit's Task objects and events; everything it derives from them is
computed here, from plain values:

* `task_record`: a task's `TaskRecord` from its place in the graph
  (`TaskPlace`) and the probe's `Measurement`;
* `unfinished`: the outcomes of the tasks a run ended without (Ctrl-C, a
  failure without `--continue`);
* `final_summary` and `totals`: the run's `RunSummary` at the end;
* `error_text`: what a record keeps of a failure.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from doit_conductor.profiling.records import (
    FAILED, NOT_RUN, STATUSES, RunSummary, TaskRecord)

if TYPE_CHECKING:
    from doit_conductor.profiling.probe import Measurement

ERROR_LIMIT = 4000  # characters of a failure kept in its record
INTERRUPTED = "interrupted before it finished"


@dataclass(frozen=True, slots=True)
class TaskPlace:
    """A task's place in the graph, as doit knows it when the task finishes."""

    task_dep: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    calc_dep: tuple[str, ...] = ()
    file_dep: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    create_after: str | None = None


_PROCESS_PROBES = ("proc+rusage", "rusage")   # a measurement's worker_key is then a pid


def task_record(name: str, status: str, place: TaskPlace, measurement: Measurement | None,
                worker: int | None, error: str | None, host: str | None = None) -> TaskRecord:
    """The record of one task from its place in the graph and what the probe measured
    (`host`: the Dask worker's host that ran it, see doit_conductor.scale)."""
    graph = dict(task_dep=place.task_dep, setup=place.setup, calc_dep=place.calc_dep,
                 file_dep=place.file_dep, targets=place.targets,
                 create_after=place.create_after)
    if measurement is None:
        return TaskRecord(name=name, status=status, error=error,
                          exit_status=1 if status == FAILED else None, **graph)
    m = measurement
    return TaskRecord(
        name=name, status=status, start=m.start, end=m.start + m.wall_s,
        wall_s=m.wall_s, cpu_user_s=m.cpu_user_s, cpu_sys_s=m.cpu_sys_s,
        peak_rss_bytes=m.peak_rss_bytes, io_read_bytes=m.io_read_bytes,
        io_write_bytes=m.io_write_bytes, worker=worker, exit_status=m.exit_status,
        counters=dict(m.counters), measured_by=m.measured_by, error=error,
        rss_base_bytes=m.rss_base_bytes, peak_rss_children_bytes=m.peak_rss_children_bytes,
        pid=m.worker_key if m.measured_by in _PROCESS_PROBES else None, host=host,
        **graph)


def unfinished(started: Iterable[str], recorded: Collection[str],
               in_run: Iterable[str], stopped: bool = True) -> list[tuple[str, str, str | None]]:
    """(name, status, error) of each task of the run without an outcome, by name.

    A task that started and never finished was interrupted under it: failed.
    A task of the run that never started did not run, when a failure or an
    interruption `stopped` the run; in a run that was not stopped, it is a
    setup task no task needed (doit runs one only for a task not up to
    date), which doit does not mention and gets no record.
    """
    started = set(started)
    outcomes = [(name, FAILED, INTERRUPTED) for name in sorted(started.difference(recorded))]
    if stopped:
        for name in sorted(set(in_run).difference(recorded, started)):
            outcomes.append((name, NOT_RUN, None))
    return outcomes


def error_text(kind: str, message: str | None, traceback: Sequence[str] | None) -> str:
    """What a record keeps of a failure: its kind, message and the exception line."""
    text = f"{kind}: {(message or '').strip()}"
    if traceback:
        last = "".join(traceback).strip().splitlines()[-1:]
        if last:
            text += f" ({last[0].strip()})"
    return text[:ERROR_LIMIT]


def final_summary(initial: RunSummary, records: tuple[TaskRecord, ...], end: float,
                  wall_s: float, *, completed: bool, codegen: dict | None = None,
                  task_numbers: dict | None = None) -> RunSummary:
    """The summary written when the run ends: counts, totals, end time, and what
    the workflow adds (Task 8's closing summary, the tasks' workflow numbers)."""
    counts = {status: 0 for status in STATUSES}
    for record in records:
        counts[record.status] += 1
    return RunSummary(
        run_id=initial.run_id, command=initial.command, doit_version=initial.doit_version,
        workers=initial.workers, parallel_type=initial.parallel_type, start=initial.start,
        end=end, wall_s=wall_s, counts=counts, totals=totals(records), host=initial.host,
        completed=completed, codegen=codegen,
        task_numbers=initial.task_numbers if task_numbers is None else task_numbers)


def totals(records: tuple[TaskRecord, ...]) -> dict[str, float]:
    """Sums over tasks (peak memory: the largest task's peak)."""
    result: dict[str, float] = {"tasks": len(records), "wall_s": 0.0, "cpu_user_s": 0.0,
                                "cpu_sys_s": 0.0, "io_read_bytes": 0, "io_write_bytes": 0,
                                "peak_rss_bytes": 0}
    for record in records:
        result["wall_s"] += record.wall_s
        result["cpu_user_s"] += record.cpu_user_s or 0.0
        result["cpu_sys_s"] += record.cpu_sys_s or 0.0
        result["io_read_bytes"] += record.io_read_bytes or 0
        result["io_write_bytes"] += record.io_write_bytes or 0
        result["peak_rss_bytes"] = max(result["peak_rss_bytes"], record.peak_rss_bytes or 0)
    return result
