"""Everything the report says about a run, computed from its records.

The processors of the report pipeline: pure functions from run records to
frozen dataclasses that every renderer (text, json, html) shows as it is.
No I/O, no printing, no clocks.  The graph algorithms live in `dag`,
`schedule`, `compare`, `history` and `counters`; this module puts them
together per run.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from doit_conductor.profiling.records import FAILED, STATUSES, RunSummary, TaskRecord
from doit_conductor.report.codegen_phases import PhaseBreakdown, PhaseComparison
from doit_conductor.report.compare import Comparison
from doit_conductor.report.counter_summary import CounterSummary, counter_summary
from doit_conductor.report.dag import (
    EXECUTED,
    ConcurrencyGroup,
    CriticalPath,
    build_graph,
    concurrency_groups,
    cpm_timings,
    critical_path,
)
from doit_conductor.report.history import History
from doit_conductor.report.schedule import DEFAULT_WORKERS, WhatIf, what_if

DEFAULT_TOP = 10


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task as the report shows it.  Offsets are seconds from the run's start."""

    name: str
    status: str
    wall_s: float
    cpu_s: float | None
    peak_rss_bytes: int | None
    io_read_bytes: int | None
    io_write_bytes: int | None
    worker: int | None
    start_offset_s: float | None
    end_offset_s: float | None
    earliest_start_s: float
    slack_s: float | None  # None: the task did not execute, so it has no time to stretch
    critical: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class Ranked:
    """A task in a top-N list, with its share of the run's summed figure (0..1)."""

    name: str
    value: float
    share: float


@dataclass(frozen=True, slots=True)
class RunAnalysis:
    run_id: str
    command: tuple[str, ...]
    workers: int
    parallel_type: str
    start: float
    completed: bool
    wall_s: float | None
    task_time_s: float
    parallelism: float | None
    counts: dict[str, int]
    tasks: tuple[TaskRow, ...]
    top_wall: tuple[Ranked, ...]
    top_memory: tuple[Ranked, ...]
    critical_path: CriticalPath
    groups: tuple[ConcurrencyGroup, ...]
    counters: CounterSummary
    what_if: tuple[WhatIf, ...]
    warnings: tuple[str, ...]
    # added for Dask runs (doit_conductor.scale); defaults keep older callers working
    worker_use: tuple[WorkerUse, ...] = ()
    task_overhead_s: float = 0.0

    @property
    def failed(self) -> tuple[TaskRow, ...]:
        return tuple(t for t in self.tasks if t.status == FAILED)

    @property
    def executed_nothing(self) -> bool:
        """Every task was up to date (or otherwise skipped): a no-op run, all figures 0."""
        return bool(self.tasks) and not any(t.status in EXECUTED for t in self.tasks)


@dataclass(frozen=True, slots=True)
class Report:
    """What one `profile-report` invocation shows: a run, a comparison, a history."""

    run: RunAnalysis | None = None
    comparison: Comparison | None = None
    history: History | None = None
    notice: str | None = None  # what the reader must know first (e.g. a no-op run)
    # Task 8's five phases in the run, in the run compared against, and both side by side
    phases: PhaseBreakdown | None = None
    old_phases: PhaseBreakdown | None = None
    phases_compared: PhaseComparison | None = None


@dataclass(frozen=True, slots=True)
class WorkerUse:
    """One worker process of a run that ran tasks on other hosts (Dask)."""

    host: str
    pid: int | None
    tasks: int
    busy_s: float


def worker_use(records: Sequence[TaskRecord]) -> tuple[WorkerUse, ...]:
    """Tasks and busy time per (host, pid), for runs whose records name hosts;
    empty for runs on this machine only.  Tasks without a host ran in the client."""
    if not any(r.host for r in records):
        return ()
    use: dict[tuple[str, int | None], list[float]] = {}
    for record in records:
        if record.status not in EXECUTED:
            continue
        slot = use.setdefault((record.host or "(client)", record.pid), [0, 0.0])
        slot[0] += 1
        slot[1] += record.wall_s
    return tuple(WorkerUse(host, pid, int(n), busy)
                 for (host, pid), (n, busy) in sorted(use.items(), key=lambda i: (i[0][0], i[0][1] or 0)))


def analyse_run(run_id: str, summary: RunSummary, records: Sequence[TaskRecord], *,
                workers: Iterable[int] = DEFAULT_WORKERS, top: int = DEFAULT_TOP,
                task_overhead_s: float = 0.0) -> RunAnalysis:
    """The whole per-run analysis; raises `RecordError` if the records form no DAG."""
    graph = build_graph(records)
    timings = cpm_timings(graph)
    path = critical_path(graph, timings)
    on_path = set(path.tasks)
    origin = _origin(summary, records)
    executed = [r for r in records if r.status in EXECUTED]
    task_time = sum(graph.durations[r.name] for r in executed)
    wall = _run_wall(summary, records, origin)
    rows = tuple(sorted(
        (_row(r, timings[r.name].earliest_start_s,
              timings[r.name].slack_s if r.status in EXECUTED else None, r.name in on_path, origin)
         for r in records),
        key=lambda row: (row.start_offset_s is None, row.start_offset_s or 0.0,
                         row.earliest_start_s, row.name)))
    rss = {r.name: float(r.peak_rss_bytes) for r in executed if r.peak_rss_bytes is not None}
    return RunAnalysis(
        run_id=run_id,
        command=summary.command,
        workers=summary.workers,
        parallel_type=summary.parallel_type,
        start=origin,
        completed=summary.completed,
        wall_s=wall,
        task_time_s=task_time,
        parallelism=task_time / wall if wall else None,
        counts=_counts(records),
        tasks=rows,
        top_wall=_top({r.name: graph.durations[r.name] for r in executed}, top),
        top_memory=_top(rss, top),
        critical_path=path,
        groups=tuple(concurrency_groups(graph, (r.name for r in executed))),
        counters=counter_summary(records),
        # A serial run (doit records 0 workers) is what one worker does.
        what_if=tuple(what_if(graph, workers, max(summary.workers, 1), wall, task_overhead_s)),
        warnings=tuple(_warnings(summary, records)),
        worker_use=worker_use(records),
        task_overhead_s=task_overhead_s,
    )


def _origin(summary: RunSummary, records: Sequence[TaskRecord]) -> float:
    starts = [r.start for r in records if r.start is not None]
    return min([summary.start, *starts])


def _run_wall(summary: RunSummary, records: Sequence[TaskRecord], origin: float) -> float | None:
    if summary.wall_s is not None:
        return summary.wall_s
    # An incomplete run has no recorded end: what its tasks spanned is the best figure.
    ends = [r.end for r in records if r.end is not None]
    return max(ends) - origin if ends else None


def _row(record: TaskRecord, earliest: float, slack: float | None, critical: bool,
         origin: float) -> TaskRow:
    cpu = None
    if record.cpu_user_s is not None or record.cpu_sys_s is not None:
        cpu = (record.cpu_user_s or 0.0) + (record.cpu_sys_s or 0.0)
    return TaskRow(
        name=record.name,
        status=record.status,
        wall_s=record.wall_s if record.status in EXECUTED else 0.0,
        cpu_s=cpu,
        peak_rss_bytes=record.peak_rss_bytes,
        io_read_bytes=record.io_read_bytes,
        io_write_bytes=record.io_write_bytes,
        worker=record.worker,
        start_offset_s=record.start - origin if record.start is not None else None,
        end_offset_s=record.end - origin if record.end is not None else None,
        earliest_start_s=earliest,
        slack_s=slack,
        critical=critical,
        error=record.error,
    )


def _counts(records: Sequence[TaskRecord]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for record in records:
        counts[record.status] += 1
    return counts


def _top(values: dict[str, float], n: int) -> tuple[Ranked, ...]:
    """The `n` largest positive values (all for n = 0; ties by name), with their share of the sum."""
    total = sum(values.values())
    positive = ((k, v) for k, v in values.items() if v > 0)
    ranked = (heapq.nsmallest(n, positive, key=_by_value_then_name) if n > 0
              else sorted(positive, key=_by_value_then_name))
    return tuple(Ranked(name, value, value / total if total > 0 else 0.0) for name, value in ranked)


def _by_value_then_name(item: tuple[str, float]) -> tuple[float, str]:
    return -item[1], item[0]


def _warnings(summary: RunSummary, records: Sequence[TaskRecord]) -> list[str]:
    warnings = []
    if not summary.completed:
        warnings.append("run is incomplete (interrupted or still running): figures cover the "
                        "tasks recorded so far")
    failed = sorted(r.name for r in records if r.status == FAILED)
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        warnings.append(f"{len(failed)} task(s) failed: {shown}")
    if not records:
        warnings.append("run recorded no tasks")
    return warnings
