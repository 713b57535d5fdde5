"""Bounds on what one render may cost: output size, time and nesting depth.

A template (or a pattern feeding it) can ask for a gigabyte of output, loop for
hours or recurse without end.  `bounded_render` streams the template's output
and stops it at the first chunk over the size limit or past the deadline, and
runs it under a recursion limit derived from `max_template_depth`, so each of
these is one line naming the template and the pattern instead of an exhausted
machine or a traceback.  The limits come from `[tool.conductor.limits]`.
"""
from __future__ import annotations

import signal
import inspect
import sys
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterator

import jinja2

from doit_conductor.config import RenderLimits

# Python frames one level of macro call / include / block costs in Jinja2's
# generated code (measured: 5 in the sandbox); a margin covers our filters.
FRAMES_PER_LEVEL = 5
FRAME_MARGIN = 60


class LimitExceeded(Exception):
    """A render went past one of the limits; `reason` says which, in our words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def bounded_render(template: jinja2.Template, context: dict, limits: RenderLimits) -> str:
    """The template's output, or LimitExceeded."""
    deadline = time.monotonic() + limits.max_render_s
    # in the main thread SIGALRM keeps the deadline (`_deadline_alarm`); the
    # clock is read per chunk only where it cannot (a chunk is ~30 characters)
    watch_clock = threading.current_thread() is not threading.main_thread()
    max_size = limits.max_file_bytes
    parts: list[str] = []
    size = 0
    with _deadline_alarm(limits), _recursion_budget(limits.max_template_depth):
        try:
            for chunk in template.generate(context):
                # characters, not bytes: a cheap bound that is never below the
                # UTF-8 size by more than 4x; the exact check follows the encode
                size += len(chunk)
                if size > max_size:
                    raise LimitExceeded(f"output over {limits.max_file_bytes} bytes "
                                        "([tool.conductor.limits] max_file_bytes)")
                if watch_clock and time.monotonic() > deadline:
                    raise _timeout(limits)
                parts.append(chunk)
        except RecursionError:
            raise LimitExceeded(f"templates nest deeper than {limits.max_template_depth} "
                                "levels (recursive macro or include? [tool.conductor.limits] "
                                "max_template_depth)") from None
    return "".join(parts)


def _timeout(limits: RenderLimits) -> LimitExceeded:
    return LimitExceeded(f"rendering took over {limits.max_render_s:g}s "
                         "([tool.conductor.limits] max_render_s)")


@contextmanager
def _recursion_budget(levels: int) -> Iterator[None]:
    depth, frame = 0, inspect.currentframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + FRAME_MARGIN + levels * FRAMES_PER_LEVEL)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


@contextmanager
def _deadline_alarm(limits: RenderLimits) -> Iterator[None]:
    """Interrupt a single long step (one huge macro call yields nothing for a
    while) with SIGALRM; only possible in the main thread, where doit's serial
    runner and its `-n` worker processes run actions."""
    seconds = limits.max_render_s
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expired(signum, frame):
        raise _timeout(limits)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
