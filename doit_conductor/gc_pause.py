"""Python's cyclic garbage collector, held off while a run builds bulk data.

A run decodes megabyte documents (the pattern index, the plan, the no-op
snapshot) and sweeps tens of thousands of stats: millions of containers, none
in a reference cycle.  Each 700 allocations start a collection, and a heap
that grew by a quarter starts a full one over every object the process holds:
at 10,000 patterns an edit spent ~0.3 s of its ~2 s there, at 1,000 ~40 ms.
Objects allocated while paused are still freed by their reference counts; a
cycle made meanwhile is collected once the collector is back on.
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import os
from collections.abc import Iterator


@contextlib.contextmanager
def paused(*, freeze: bool = False) -> Iterator[None]:
    """No cyclic collection inside the block.  `freeze`: afterwards move every
    object the process holds out of the collector's sight (`gc.freeze`), for a
    long-lived acyclic structure just built, so later collections do not walk
    it again.  The young generations are collected first (~0.1 ms), so the
    cycles that died lately are freed, not frozen (a serial 1,000-pattern
    build made to freeze after each of its 89 batch plans: all 7,735 of them)."""
    if not gc.isenabled():   # nested, or turned off by the program: leave as is
        yield
        return
    if freeze:
        gc.collect(1)
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        gc.enable()


# From this size a decoded document counts as bulk.
BULK_BYTES = 256 * 1024
# The process whose bulk documents live for the run: doit's own, running a
# conductor project (`keep_decoded_here`).  Not its forked `-n` workers (a
# different pid), which decode a batch plan and drop it, nor a Dask worker that
# outlives many runs: a freeze there gains nothing and would hide for good
# whatever dead cycles the old generation holds.
_KEEPER: int | None = None


def keep_decoded_here() -> None:
    global _KEEPER
    _KEEPER = os.getpid()


def decoding(size: int) -> contextlib.AbstractContextManager:
    """Around decoding a document of `size` bytes into plain containers: a bulk
    one is decoded paused, and frozen after in the process that keeps it."""
    if size < BULK_BYTES:
        return contextlib.nullcontext()
    return paused(freeze=os.getpid() == _KEEPER)


# None until `freeze_at_exit` is first called; then whether to collect first.
_collect_at_exit: bool | None = None


def freeze_at_exit(*, collect: bool = True) -> None:
    """Have the interpreter's exit skip walking the objects of the run.

    Finalisation runs several full collections over every object the process
    still holds: 22-35 ms of a 1,000-pattern no-op (~0.15 s in all), 40-57 ms
    after a `-n 3` run.  Frozen at exit, they walk nothing; objects are still
    freed by their reference counts as modules are cleared.  `collect`: first
    collect every dead cycle, so a finalizer of project code in one (an
    object's `__del__`, which an action may leave in a cycle) still runs; a
    run that executed no task (the fast no-op) has none to run.  Once asked
    to collect, a process keeps collecting."""
    global _collect_at_exit
    if _collect_at_exit is None:
        atexit.register(_freeze_for_exit)
        _collect_at_exit = collect
    else:
        _collect_at_exit = _collect_at_exit or collect


def _freeze_for_exit() -> None:
    if _collect_at_exit:
        gc.collect()
    gc.freeze()
