"""A long stat sweep on two cores: its second half in a forked child.

At 10,000 patterns the no-op's check stats 47,700 paths, 95 ms on one core
and most of the no-op (the recording at the end of a run that did something
sweeps them too).  `os.stat` holds the GIL for most of its cost
(building the `stat_result`), so a second thread made it slower (160 ms); a
forked child (`doit_conductor.forked`) that sweeps the second half against
the same packed snapshot takes it to 53 ms.  Below `MIN_PATHS` the fork costs
about what it saves (1,000 patterns, 5,300 paths: 10.4 ms either way), and
the sweep stays in the process.
"""
from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from doit_conductor import forked

MIN_PATHS = 16_384
Row = TypeVar("Row")
T = TypeVar("T")
_ANSWER = struct.Struct("<q")   # the start of the first differing chunk, or -1


def usable(paths: int) -> bool:
    """Whether a sweep of that many paths is split: a long one, with a second
    CPU, and no other thread whose locks the child could inherit held."""
    return paths >= MIN_PATHS and threading.active_count() == 1 and forked.available()


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

    def second_half() -> bytes:
        found = first(split, len(paths))
        return _ANSWER.pack(-1 if found is None else found)

    child = forked.start(second_half)
    if child is None:
        return first(0, len(paths))
    try:
        found = first(0, split)
        if found is not None:
            return found   # the child's half no longer matters
        answer = child.answer()
    finally:
        child.cancel()
    if answer is None:   # the child died before answering: its half here
        return first(split, len(paths))
    found = _ANSWER.unpack(answer)[0]
    return None if found < 0 else found


def split_sweep(paths: Sequence[str], sweep: Callable[[Sequence[str]], list[Row]],
                packed_sweep: Callable[[Sequence[str]], bytes | None],
                unpack: Callable[[bytes], list[Row]]) -> list[Row]:
    """`sweep(paths)`, the second half swept in a child that sends it packed."""
    halves = _halves(paths, sweep, packed_sweep)
    if halves is None:
        return sweep(paths)
    first, answer, split = halves
    return first + (unpack(answer) if answer else sweep(paths[split:]))


def packed_sweep(paths: Sequence[str], packed: Callable[[Sequence[str]], bytes | None]
                 ) -> bytes | None:
    """`packed(paths)`, the second half swept in a forked child (None: a stat
    did not pack)."""
    halves = _halves(paths, packed, packed)
    if halves is None:
        return packed(paths)
    first, answer, split = halves
    rest = answer or packed(paths[split:])
    return None if first is None or rest is None else first + rest


def _halves(paths: Sequence[str], here: Callable[[Sequence[str]], T],
            packed: Callable[[Sequence[str]], bytes | None]) -> tuple[T, bytes, int] | None:
    """(`here` of the first half, the child's `packed` of the second half, where
    the halves meet); the child's answer is empty if it died or a stat did not
    pack (its half is then the caller's to sweep).  None: no child could start."""
    split = len(paths) // 2
    child = forked.start(lambda: packed(paths[split:]) or b"")
    if child is None:
        return None
    try:
        first = here(paths[:split])
        answer = child.answer()
    finally:
        child.cancel()
    return first, answer or b"", split
