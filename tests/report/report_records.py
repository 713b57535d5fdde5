"""Hand-made records and run directories with known answers (imported by the report tests)."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from tasks.fsio import dump_json
from tasks.profiling.records import (RAN, RunSummary, TaskRecord, run_summary_to_json,
                                     task_record_to_json)

RUN_START = 1_700_000_000.0


def record(name: str, wall: float = 0.0, deps: Sequence[str] = (), status: str = RAN,
           start: float | None = None, **fields) -> TaskRecord:
    """A task record; `start` is an offset from RUN_START (None: never started)."""
    begin = RUN_START + start if start is not None else None
    end = begin + wall if begin is not None else None
    return TaskRecord(name=name, status=status, start=begin, end=end, wall_s=wall,
                      task_dep=tuple(deps), **fields)


def summary(run_id: str = "20240101T000000-000001", workers: int = 1, wall: float | None = 10.0,
            completed: bool = True, start: float = RUN_START) -> RunSummary:
    return RunSummary(run_id=run_id, command=("doit",), doit_version="0.37.0", workers=workers,
                      parallel_type="process", start=start,
                      end=start + wall if wall is not None else None, wall_s=wall, counts={},
                      totals={}, host={"cpus": 4}, completed=completed)


def write_run(root: Path, run_summary: RunSummary, records: Sequence[TaskRecord]) -> Path:
    """A run directory as the profiling reporter writes it."""
    run_dir = root / ".conductor" / "metrics" / "runs" / run_summary.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_bytes(dump_json(run_summary_to_json(run_summary)))
    lines = [json.dumps(task_record_to_json(r), sort_keys=True) for r in records]
    (run_dir / "tasks.jsonl").write_text("".join(line + "\n" for line in lines))
    (run_dir / "trace.json").write_text('{"traceEvents": []}\n')
    return run_dir
