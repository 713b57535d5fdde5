"""Where the plugin's library code says things: its `logging`, routed to the console here.

Library modules never write to stdout or stderr (tests/test_layers.py); they
log to `doit_conductor.*` loggers: INFO for what doit shows of a task's
output at `-v 2` (`[compile] output/sql/users.sql`), WARNING for one-line
warnings.  While a task action runs (`actions.user_action`) or a cache hit is
restored, `to_console()` sends INFO to stdout and WARNING and above to
stderr, the message alone, through whatever `sys.stdout`/`sys.stderr` are at
that moment: doit captures a task's output by replacing them.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

LOGGER = "doit_conductor"


class _Console(logging.Handler):
    """INFO to the current stdout, WARNING and above to the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
        except Exception:   # a closed stream must not fail the task
            self.handleError(record)


@contextlib.contextmanager
def to_console() -> Iterator[None]:
    """Route the library's log records to the console while the block runs."""
    logger = logging.getLogger(LOGGER)
    handler = _Console()
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False   # said once, here, not again by a root handler
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
