"""Fixtures of the report tests."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tasks.profiling.records import TaskRecord

from report_records import summary, write_run


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    def make(run_id: str, records: Sequence[TaskRecord], **kwargs) -> Path:
        return write_run(tmp_path, summary(run_id, **kwargs), records)
    return make
