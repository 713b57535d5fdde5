"""`profile-report --format trace`: the run in Chrome Trace Event Format.

The trace itself is built by `doit_conductor.profiling.trace` (pure), which the
reporter also uses for each run's `trace.json`; this renderer applies it to a
stored run.
"""
from __future__ import annotations

from doit_conductor.profiling.store import Run
from doit_conductor.profiling.trace import chrome_trace

__all__ = ["chrome_trace", "run_trace"]


def run_trace(run: Run) -> dict:
    """The trace of a `doit_conductor.profiling.store.Run`."""
    return chrome_trace(run.summary, run.tasks)
