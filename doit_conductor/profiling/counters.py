"""Figures a task adds to its own run record (`TaskRecord.counters`).

A task action calls::

    from doit_conductor.profiling import counters
    counters.add("template_cache_hits", hits)
    counters.add("files_rendered")          # value defaults to 1

The probe resets the counters when a task starts and collects them when it
stops, in the thread that runs the task (the main process in serial mode, a
worker process with `-n N`, a worker thread with `-P thread`).  Values are
thread-local, so figures added from threads the task itself starts are *not*
collected: add them from the task's thread (e.g. after joining a pool).

Outside a profiled run `add` still works and costs a dict update; nothing reads
the values.  Stdlib only: this module is imported by task actions on every run.
"""
from __future__ import annotations

import threading

_local = threading.local()


def add(name: str, value: float = 1) -> None:
    """Add `value` to the counter `name` of the task running in this thread."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"counter name must be a non-empty str, not {name!r}")
    # bool is an int subclass; a True that silently counts as 1 hides a bug.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"counter {name!r}: value must be a number, not {value!r}")
    values = _values()
    values[name] = values.get(name, 0) + value


def reset() -> None:
    """Forget this thread's counters (the probe calls it when a task starts)."""
    _local.values = {}


def collect() -> dict[str, float]:
    """Return this thread's counters and start afresh (the probe, at task end)."""
    values = _values()
    _local.values = {}
    return values


def snapshot() -> dict[str, float]:
    """A copy of this thread's counters, leaving them in place."""
    return dict(_values())


def _values() -> dict[str, float]:
    try:
        return _local.values
    except AttributeError:
        _local.values = {}
        return _local.values
