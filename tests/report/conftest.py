"""Fixtures of the report tests."""
from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tests.support.records import summary, write_run

from doit_conductor.profiling.records import TaskRecord


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    def make(run_id: str, records: Sequence[TaskRecord], **kwargs) -> Path:
        return write_run(tmp_path, summary(run_id, **kwargs), records)
    return make


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless chromium (Debian package `chromium`; `.ci/run` installs it); skipped without one."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium on PATH, so the HTML report is not checked in a browser: "
                "`apt-get install -y chromium` (what .ci/run does) enables these tests")
