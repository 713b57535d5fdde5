"""Hand-made records and run directories with known answers (imported by the report tests)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from doit_conductor.profiling.records import RAN, RunSummary, TaskRecord
from doit_conductor.profiling.store import RunWriter, metrics_root
from doit_conductor.report.trace import chrome_trace

RUN_START = 1_700_000_000.0


def record(name: str, wall: float = 0.0, deps: Sequence[str] = (), status: str = RAN,
           start: float | None = None, **fields) -> TaskRecord:
    """A task record; `start` is an offset from RUN_START (None: never started)."""
    begin = RUN_START + start if start is not None else None
    end = begin + wall if begin is not None else None
    return TaskRecord(name=name, status=status, start=begin, end=end, wall_s=wall,
                      task_dep=tuple(deps), **fields)


def summary(run_id: str = "20240101T000000.000000Z-1", workers: int = 1, wall: float | None = 10.0,
            completed: bool = True, start: float = RUN_START) -> RunSummary:
    return RunSummary(run_id=run_id, command=("doit",), doit_version="0.37.0", workers=workers,
                      parallel_type="process", start=start,
                      end=start + wall if wall is not None else None, wall_s=wall, counts={},
                      totals={}, host={"cpus": 4}, completed=completed)


def write_run(root: Path, run_summary: RunSummary, records: Sequence[TaskRecord]) -> Path:
    """A run directory written by the profiling store's own writer.

    A summary with `completed=False` leaves the run as an interrupted one would:
    records appended, no trace, the summary still saying it is incomplete.
    """
    writer = RunWriter(metrics_root(root), replace(run_summary, completed=False))
    for task in records:
        writer.append(task)
    if run_summary.completed:
        writer.finish(run_summary, chrome_trace(run_summary, records))
    writer.close()
    return writer.path
