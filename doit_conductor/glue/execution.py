"""One task's execution, wherever it runs: measure -> look up cache -> execute -> store -> record.

Every runner calls `execute_task` where a task's actions would run (doit's
process for the serial and thread runners, a forked `-n` worker, a Dask
worker), and `restore_before_dispatch` where a hit can be restored without
sending the task anywhere.  Both leave one `TaskNotes` on the task, the only
attribute doit-conductor sets on doit's Task for the reporter: in process
mode it travels back with the task's `pickle_safe_dict()`, from Dask inside
the job's result, so the reporter reads it the same way in every mode
(`notes_of`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from doit_conductor.errors import UserError
from doit_conductor.profiling import probe

if TYPE_CHECKING:   # the action cache's modules load only for a run that has one
    from doit_conductor.glue.cached_execution import ActionCache

NOTES_ATTRIBUTE = "conductor_notes"


@dataclass(frozen=True, slots=True)
class TaskNotes:
    """What the execution chain learned about one task, for the reporter."""

    measurement: probe.Measurement
    cached: bool = False          # restored from the action cache, not run
    host: str | None = None       # the Dask worker's host; None: this machine


def notes_of(task) -> TaskNotes | None:
    """The notes the chain left on `task` (None: it did not execute here)."""
    return getattr(task, NOTES_ATTRIBUTE, None)


def execute_task(task, run: Callable[[], object], announce: Callable[[], None],
                 cache: ActionCache | None, *, thread_mode: bool = False,
                 host: str | None = None) -> object:
    """`run()`'s failure (None on success), measured; a cache hit is restored
    instead of running.  `announce` tells the reporter the task starts (which
    `run` does itself).  If doit itself raises, the probe still stops, so the
    next task's starts clean, and the task gets no notes."""
    started = probe.start(thread_mode=thread_mode)
    failure, cached = None, False
    try:
        if cache is None:
            failure = run()
        else:
            failure, cached = cache.execute(task, run, announce)
    finally:
        measurement = probe.stop(started, failed=failure is not None)
    setattr(task, NOTES_ATTRIBUTE, TaskNotes(measurement, cached, host))
    return failure


def restore_before_dispatch(task, announce: Callable[[], None],
                            cache: ActionCache | None) -> tuple[bool, object]:
    """(restored, failure) for a task about to be sent to a worker: a hit in a
    store on this machine is written here, without the round trip.  A refused
    path (UserError) ends the run, as when the serial runner restores."""
    if cache is None or not cache.restores_locally:
        return False, None
    started = probe.start()
    try:
        hit = cache.restore_before_dispatch(task, announce)
    except UserError:
        probe.stop(started, failed=True)
        raise
    except Exception as exc:   # a target that cannot be written
        probe.stop(started, failed=True)
        return True, cache.restore_failure(task, exc)
    measurement = probe.stop(started, failed=False)
    if hit:
        setattr(task, NOTES_ATTRIBUTE, TaskNotes(measurement, cached=True))
    return hit, None
