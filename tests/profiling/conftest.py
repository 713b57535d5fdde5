"""Helpers for the profiling tests: small doit projects in tmp dirs, run for real."""
from __future__ import annotations

from pathlib import Path

import pytest

from doit_conductor.profiling import store
from tests.support.projects import DodoProject

MB = 1024 * 1024
Project = DodoProject  # the name these tests have always used


@pytest.fixture
def dodo_project(tmp_path: Path) -> DodoProject:
    """An empty project of our own (not this repository's workflow)."""
    return DodoProject(tmp_path / "proj")


def by_name(run: store.Run) -> dict:
    return {record.name: record for record in run.tasks}
