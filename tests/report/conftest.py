"""Fixtures of the report tests."""
from __future__ import annotations

import os
import shutil
import subprocess
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
    """Debian's chromium, installed with apt-get where missing; skipped only where it cannot be."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("chromium is not installed and cannot be installed here "
                    "(needs root and apt-get): `apt-get install -y chromium`")
    result = subprocess.run("apt-get update && apt-get install -y chromium", shell=True,
                            capture_output=True, text=True, timeout=1200)
    found = shutil.which("chromium")
    if not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        pytest.skip(f"chromium could not be installed with apt-get: {' '.join(tail)}")
    return found
