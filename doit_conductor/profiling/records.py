"""Run records: what one `doit` invocation measured, as plain data.

A run directory (`.conductor/metrics/runs/<run-id>/`) holds:

* `tasks.jsonl`  one `TaskRecord` a line, in the order tasks finished;
* `summary.json` one `RunSummary`;
* `trace.json`   the run as Chrome Trace Event Format (see `doit_conductor.report.trace`).

Each record type has exactly one pair of functions for JSON in and out, and
every document carries `schema_version` so readers can refuse what they do not
understand instead of misreading it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

SCHEMA_VERSION = 1

# Task statuses as the reporter records them.
RAN = "ran"
UP_TO_DATE = "up-to-date"
FAILED = "failed"
IGNORED = "ignored"
NOT_RUN = "not-run"
STATUSES = (RAN, UP_TO_DATE, FAILED, IGNORED, NOT_RUN)


class RecordError(ValueError):
    """A metrics file that is not a valid record of this schema."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task of one run.

    Times are epoch seconds (`start`, `end`) and durations in seconds.  Resource
    figures are `None` when they could not be measured (thread mode, tasks that
    did not run); `measured_by` says how they were obtained.
    """

    name: str
    status: str
    start: float | None = None
    end: float | None = None
    wall_s: float = 0.0
    cpu_user_s: float | None = None
    cpu_sys_s: float | None = None
    peak_rss_bytes: int | None = None
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    worker: int | None = None
    exit_status: int | None = None
    task_dep: tuple[str, ...] = ()
    file_dep: tuple[str, ...] = ()
    counters: dict[str, float] = field(default_factory=dict)
    measured_by: str = "none"
    error: str | None = None
    # Added with the probe (defaults keep older writers' records loadable):
    # the worker's resident set when the task started, which `peak_rss_bytes`
    # does not include, and the largest peak of a child process of the task.
    rss_base_bytes: int | None = None
    peak_rss_children_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a whole run was: its command, its host and its totals."""

    run_id: str
    command: tuple[str, ...]
    doit_version: str
    workers: int
    parallel_type: str
    start: float
    end: float | None
    wall_s: float | None
    counts: dict[str, int]
    totals: dict[str, float]
    host: dict[str, object]
    completed: bool
    schema_version: int = SCHEMA_VERSION
    # Task 8's closing summary (`profiling.codegen_summary`), None in runs
    # without codegen sub-tasks; the same numbers the console showed.
    codegen: dict[str, float] | None = None
    # Workflow task numbers from doit's `meta` (name -> N), for the review's
    # baseline layout (`profiling.task_profiles`); None before they were recorded.
    task_numbers: dict[str, int] | None = None


_TASK_FIELDS = tuple(f.name for f in fields(TaskRecord))


def task_record_to_json(record: TaskRecord) -> dict:
    # Field by field rather than asdict(): written once per task while the
    # build runs, and asdict's deep copy was a tenth of the reporter's cost.
    data = {name: getattr(record, name) for name in _TASK_FIELDS}
    data["counters"] = dict(record.counters)
    data["task_dep"] = list(record.task_dep)
    data["file_dep"] = list(record.file_dep)
    data["schema_version"] = SCHEMA_VERSION
    return data


def task_record_from_json(data: dict) -> TaskRecord:
    record = _from_json(TaskRecord, data, "task record", ("task_dep", "file_dep"))
    if record.status not in STATUSES:
        raise RecordError(f"task record {record.name!r}: unknown status {record.status!r}")
    return record


def run_summary_to_json(summary: RunSummary) -> dict:
    data = asdict(summary)
    data["command"] = list(summary.command)
    return data


def run_summary_from_json(data: dict) -> RunSummary:
    return _from_json(RunSummary, data, "run summary", ("command",))


def _from_json(cls, data: object, what: str, tuples: tuple[str, ...]):
    """A record of `cls` from its JSON object: unknown keys ignored (newer minor
    fields), JSON lists back to tuples, a missing field a RecordError."""
    _check_version(data, what)
    values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
    for name in tuples:
        values[name] = tuple(values.get(name, ()))
    try:
        return cls(**values)
    except TypeError as exc:
        raise RecordError(f"{what}: {exc}") from None


def _check_version(data: object, what: str) -> None:
    if not isinstance(data, dict):
        raise RecordError(f"{what}: expected a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(
            f"{what}: schema version {version!r}, this doit-conductor reads {SCHEMA_VERSION}")
