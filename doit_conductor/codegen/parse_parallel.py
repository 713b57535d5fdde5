"""Parse many pattern files on two cores.

Task 3 parses every pattern of a cold build (1,000 patterns: ~0.35 s of CPU,
PyYAML's constructor and our checks) as the first step of every later one,
while the second core has little to do (task 4 is short).  From
`PARALLEL_FROM` files on, a forked process parses the second half while this
one parses the first: the same function on the same bytes, so the entries are
those of a serial parse, and the error reported is the first one in file order.
An edit parses a file or two and never forks; a task run off the main thread
(`-P thread`, Dask) parses serially.
"""
from __future__ import annotations

import os
import threading

from doit_conductor.codegen.patterns import parse_pattern, pattern_to_json
from doit_conductor.errors import UserError

PARALLEL_FROM = 200   # below this, forking costs more than the second core saves


def parse_all(files: list[tuple[str, bytes]], kinds: dict[str, dict[str, str]]
              ) -> list[dict]:
    """The validated JSON entry of each (source, raw bytes), in order; the
    first UserError in order if any file is invalid."""
    # only from a main thread: forking a process whose other threads may hold
    # locks (doit's thread runner, a Dask worker) is asking for a hung child
    if len(files) < PARALLEL_FROM or (os.cpu_count() or 1) < 2 \
            or threading.current_thread() is not threading.main_thread():
        return _parse(files, kinds)
    # imported here: an edit parses a file or two and never pays for them
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    half = len(files) // 2
    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("fork")) as pool:
        later = pool.submit(_parse_reporting, files[half:], kinds)
        first = _parse(files[:half], kinds)   # an error here comes first in order
        try:
            error, second = later.result()
        except BrokenProcessPool:   # the helper died (killed, out of memory): parse here
            return first + _parse(files[half:], kinds)
    if error is not None:
        raise UserError(*error)
    return first + second


def _parse(files: list[tuple[str, bytes]], kinds: dict) -> list[dict]:
    return [pattern_to_json(parse_pattern(raw, source, kinds)) for source, raw in files]


def _parse_reporting(files: list[tuple[str, bytes]], kinds: dict
                     ) -> tuple[tuple | None, list[dict]]:
    """`_parse` in the helper process: an error comes back as its parts (it is
    raised again in the parent, as one line naming file and line)."""
    try:
        return None, _parse(files, kinds)
    except UserError as exc:
        return (exc.message, exc.file, exc.line), []
