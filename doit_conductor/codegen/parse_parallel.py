"""Parse many pattern files on two cores.

Task 3 parses every pattern of a cold build (1,000 patterns: ~0.35 s of CPU,
PyYAML's constructor and our checks) as the first step of every later one,
while the second core has little to do (task 4 is short).  From
`PARALLEL_FROM` files on, a forked child (`doit_conductor.forked`) parses the
second half while this process parses the first: the same function on the
same bytes, so the entries are those of a serial parse (marshal keeps their
key order), and the error reported is the first one in file order.
An edit parses a file or two and never forks; a task run off the main thread
(`-P thread`, Dask) parses serially.
"""
from __future__ import annotations

import marshal
import threading

from doit_conductor import forked
from doit_conductor.codegen.patterns import parse_pattern, pattern_to_json
from doit_conductor.errors import UserError

PARALLEL_FROM = 200   # below this, forking costs more than the second core saves


def parse_all(files: list[tuple[str, bytes]], kinds: dict[str, dict[str, str]]
              ) -> list[dict]:
    """The validated JSON entry of each (source, raw bytes), in order; the
    first UserError in order if any file is invalid."""
    # only from a main thread: forking a process whose other threads may hold
    # locks (doit's thread runner, a Dask worker) is asking for a hung child
    if len(files) < PARALLEL_FROM or not forked.available() \
            or threading.current_thread() is not threading.main_thread():
        return _parse(files, kinds)
    half = len(files) // 2
    child = forked.start(lambda: marshal.dumps(_parse_reporting(files[half:], kinds)))
    if child is None:
        return _parse(files, kinds)
    try:
        first = _parse(files[:half], kinds)   # an error here comes first in order
        answer = child.answer()
    finally:
        child.cancel()
    if answer is None:   # the child died (killed, out of memory): parse here
        return first + _parse(files[half:], kinds)
    error, second = marshal.loads(answer)
    if error is not None:
        raise UserError(*error)
    return first + second


def _parse(files: list[tuple[str, bytes]], kinds: dict) -> list[dict]:
    return [pattern_to_json(parse_pattern(raw, source, kinds)) for source, raw in files]


def _parse_reporting(files: list[tuple[str, bytes]], kinds: dict
                     ) -> tuple[tuple | None, list[dict]]:
    """`_parse` in the child: an error comes back as its parts (it is raised
    again in the parent, as one line naming file and line)."""
    try:
        return None, _parse(files, kinds)
    except UserError as exc:
        return (exc.message, exc.file, exc.line), []
