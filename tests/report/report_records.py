"""Kept for tests written against the old top-level import; use `tests.support.records`."""
from tests.support.records import RUN_START, record, summary, write_run  # noqa: F401
