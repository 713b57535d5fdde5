"""The design review's baseline layout: one profile per workflow task, and a summary.

    .conductor/metrics/baselines/20251109_193629/
        task-1-profile.json ... task-22-profile.json
        summary.json

A workflow task's number N comes from its doit metadata (`"meta": {"number":
N}`, which this repository's tasks/workflow.py sets on each of its 22 tasks);
the reporter records the numbers in the run summary (`task_numbers`).  A
sub-task (`codegen:users`) belongs to its group's number (`codegen` is 8).
Tasks without a number get `task-<name>-profile.json`.

Pure: a run's summary and records in, documents out; `store.promote_baseline`
writes them.  The fields are documented in docs/profile-report.md.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from doit_conductor.profiling.records import (
    FAILED, NOT_RUN, RAN, SCHEMA_VERSION, UP_TO_DATE, RunSummary, TaskRecord,
    run_summary_to_json, task_record_to_json)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def task_numbers(metas: Iterable[tuple[str, object]]) -> dict[str, int]:
    """name -> number for the tasks whose doit `meta` holds an int `number`."""
    numbers = {}
    for name, meta in metas:
        number = meta.get("number") if isinstance(meta, dict) else None
        if isinstance(number, int) and not isinstance(number, bool) and number > 0:
            numbers[name] = number
    return numbers


def profile_key(name: str, numbers: Mapping[str, int]) -> str:
    """The file-name part of a task's profile: its number, else its (group) name."""
    group = name.split(":", 1)[0]
    number = numbers.get(name, numbers.get(group))
    if number is not None:
        return str(number)
    return _UNSAFE.sub("_", group) or "_"


def profile_file(key: str) -> str:
    return f"task-{key}-profile.json"


def task_profiles(summary: RunSummary, records: Sequence[TaskRecord]) -> dict[str, dict]:
    """file name -> document: one per workflow task, and `summary.json`."""
    numbers = summary.task_numbers or {}
    grouped: dict[str, list[TaskRecord]] = {}
    for record in records:
        grouped.setdefault(profile_key(record.name, numbers), []).append(record)
    documents = {profile_file(key): _profile(key, group, summary, numbers)
                 for key, group in grouped.items()}
    total = sum(doc["wall_s"] for doc in documents.values())
    rows = sorted((_row(name, doc, total) for name, doc in documents.items()),
                  key=lambda row: (row["task"] is None, row["task"] or 0, row["name"]))
    slowest = max(rows, key=lambda row: (row["wall_s"], row["name"]), default=None)
    aggregated = run_summary_to_json(summary)
    aggregated["workflow_tasks"] = {
        "summed_wall_s": total,
        "slowest": slowest["name"] if slowest and slowest["wall_s"] > 0 else None,
        "tasks": rows,
    }
    documents["summary.json"] = aggregated
    return documents


def _profile(key: str, group: list[TaskRecord], summary: RunSummary,
             numbers: Mapping[str, int]) -> dict:
    starts = [r.start for r in group if r.start is not None]
    ends = [r.end for r in group if r.end is not None]
    counters: dict[str, float] = {}
    for record in group:
        for name, value in record.counters.items():
            counters[name] = counters.get(name, 0) + value
    names = sorted({r.name.split(":", 1)[0] for r in group})
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": summary.run_id,
        "task": int(key) if key.isdigit() else None,
        "name": names[0] if len(names) == 1 else ", ".join(names),
        "status": _status(group),
        "subtasks": sum(":" in r.name for r in group),
        "wall_s": sum(r.wall_s for r in group),
        "span_s": max(ends) - min(starts) if starts and ends else 0.0,
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "cpu_user_s": _sum(r.cpu_user_s for r in group),
        "cpu_sys_s": _sum(r.cpu_sys_s for r in group),
        "peak_rss_bytes": max((r.peak_rss_bytes for r in group
                               if r.peak_rss_bytes is not None), default=None),
        "io_read_bytes": _sum(r.io_read_bytes for r in group),
        "io_write_bytes": _sum(r.io_write_bytes for r in group),
        "counters": counters,
        "records": [task_record_to_json(r) for r in group],
    }


def _row(file_name: str, doc: dict, total: float) -> dict:
    return {"task": doc["task"], "name": doc["name"], "file": file_name,
            "status": doc["status"], "wall_s": doc["wall_s"], "span_s": doc["span_s"],
            "share": doc["wall_s"] / total if total > 0 else 0.0}


def _status(group: list[TaskRecord]) -> str:
    """One status for a task and its sub-tasks: the worst that happened."""
    statuses = {r.status for r in group}
    for status in (FAILED, RAN, NOT_RUN, UP_TO_DATE):
        if status in statuses:
            return status
    return sorted(statuses)[0]


def _sum(values: Iterable[float | int | None]) -> float | int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
