"""A long comparison sweep on two cores: its second half in a forked child.

At 10,000 patterns the no-op's check stats 47,700 paths, 95 ms on one core
and most of the no-op.  `os.stat` holds the GIL for most of its cost
(building the `stat_result`), so a second thread made it slower (160 ms); a
forked child that sweeps the second half against the same packed snapshot
(copy-on-write: nothing is sent to it but its answer) takes it to 53 ms.
Below `MIN_PATHS` the fork costs about what it saves (1,000 patterns, 5,300
paths: 10.4 ms either way), and the sweep stays in the process.

The child only stats, packs and compares; it never unwinds the parent's
stack (interrupts are blocked in it, and it leaves by `os._exit`), and an
answer that does not arrive is a half the parent sweeps itself.
"""
from __future__ import annotations

import os
import signal
import struct
import threading
from collections.abc import Callable, Sequence

MIN_PATHS = 16_384
_ANSWER = struct.Struct("<q")   # the start of the first differing chunk, or -1
_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}


def usable(paths: int) -> bool:
    """Whether a sweep of that many paths is split: a long one, with two CPUs
    to run on, and no other thread whose locks a child could inherit held."""
    return (paths >= MIN_PATHS and hasattr(os, "fork") and threading.active_count() == 1
            and len(os.sched_getaffinity(0)) >= 2)


def first_differing_chunk(paths: Sequence[str], recorded: Callable[[int, int], bytes],
                          packed_sweep: Callable[[Sequence[str]], bytes | None],
                          chunk: int) -> int | None:
    """The start of the first `chunk`-sized run of `paths` whose `packed_sweep`
    differs from `recorded(start, end)`, or None: every chunk is as recorded."""
    starts = range(0, len(paths), chunk)
    split = starts[len(starts) // 2]

    def first(begin: int, end: int) -> int | None:
        for start in range(begin, end, chunk):
            stop = min(start + chunk, end)
            if packed_sweep(paths[start:stop]) != recorded(start, stop):
                return start
        return None

    reader, writer = os.pipe()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        pid = os.fork()
    except OSError:   # no process to spare: the whole sweep here
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(reader)
        os.close(writer)
        return first(0, len(paths))
    if pid == 0:  # the child: answer, and leave without running anything of the parent's
        try:
            os.close(reader)
            found = first(split, len(paths))
            os.write(writer, _ANSWER.pack(-1 if found is None else found))
        finally:
            os._exit(0)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    os.close(writer)
    try:
        found = first(0, split)
        if found is not None:
            os.kill(pid, signal.SIGKILL)   # its half no longer matters
            return found
        answer = _read_answer(reader)
        if answer is None:   # the child died before answering: sweep its half here
            return first(split, len(paths))
        return None if answer < 0 else answer
    finally:
        os.close(reader)
        os.waitpid(pid, 0)


def _read_answer(reader: int) -> int | None:
    raw = b""
    while len(raw) < _ANSWER.size:
        part = os.read(reader, _ANSWER.size - len(raw))
        if not part:
            return None
        raw += part
    return _ANSWER.unpack(raw)[0]
