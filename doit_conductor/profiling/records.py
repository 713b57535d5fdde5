"""Run records: what one `doit` invocation measured, as plain data.

A run directory (`.conductor/metrics/runs/<run-id>/`) holds:

* `tasks.jsonl`  one `TaskRecord` a line, in the order tasks finished;
* `summary.json` one `RunSummary`;
* `trace.json`   the run as Chrome Trace Event Format (see `doit_conductor.profiling.trace`).

Each record type has exactly one pair of functions for JSON in and out, both
through `doit_conductor.codec`, and every document carries `schema_version` so
readers can refuse what they do not understand instead of misreading it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# RecordError (a metrics file that is not a valid record) is imported from here by the report.
from doit_conductor.codec import RecordError, from_json, to_json  # noqa: F401

SCHEMA_VERSION = 1

# Task statuses as the reporter records them.
RAN = "ran"
UP_TO_DATE = "up-to-date"
FAILED = "failed"
IGNORED = "ignored"
NOT_RUN = "not-run"
CACHED = "cached"   # not run: its targets were restored from the action cache
STATUSES = (RAN, UP_TO_DATE, FAILED, IGNORED, NOT_RUN, CACHED)


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
    # The task's place in the graph as doit knew it (added with the complete
    # graph; `task_dep` above is doit's own list, implicit deps included):
    # setup tasks, calc_dep tasks, declared targets, and the task named by
    # `create_after` of the delayed creator that made this task (None if the
    # task was not made by one).  Records of older writers carried setup and
    # calc_dep inside `task_dep`; the DAG takes the union, so both read alike.
    setup: tuple[str, ...] = ()
    calc_dep: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    create_after: str | None = None
    # Where it ran: the worker process's id, and its host when that is not the
    # run's own (a Dask worker; see doit_conductor.scale).
    pid: int | None = None
    host: str | None = None


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


# What a task's record measures: none of it can be negative.
MEASURES = ("wall_s", "cpu_user_s", "cpu_sys_s", "peak_rss_bytes", "io_read_bytes",
            "io_write_bytes", "rss_base_bytes", "peak_rss_children_bytes")


def task_record_to_json(record: TaskRecord) -> dict:
    return to_json(record, version=SCHEMA_VERSION)


def task_record_from_json(data: dict) -> TaskRecord:
    record = from_json(TaskRecord, data, "task record", version=SCHEMA_VERSION)
    if record.status not in STATUSES:
        raise RecordError(f"task record {record.name!r}: unknown status {record.status!r}")
    for name in MEASURES:
        value = getattr(record, name)
        if value is not None and value < 0:
            raise RecordError(f"task record {record.name!r}: negative {name} {value!r}")
    return record


def run_summary_to_json(summary: RunSummary) -> dict:
    return to_json(summary)  # schema_version is one of its fields


def run_summary_from_json(data: dict) -> RunSummary:
    return from_json(RunSummary, data, "run summary", version=SCHEMA_VERSION)
