"""Shared fixtures: a temporary copy of the project and the real `doit` in a subprocess.

The helpers live in `tests.support`; tests import them from there.
"""
from __future__ import annotations

import shutil

import pytest

from tests.support import doit as support_doit
from tests.support.projects import Project, copy_project

# Tests that use one of these fixtures run doit (or another interpreter) in a
# subprocess, and so do all tests below these directories: they are `slow`.
SLOW_FIXTURES = {"project", "built", "built_template", "dodo_project", "fresh",
                 "reference", "workspace", "chromium"}
SLOW_PATHS = ("tests/e2e/", "tests/reliability/", "tests/steps/test_steps_e2e.py",
              "tests/report/test_report_command.py", "tests/profiling/test_profiling_e2e.py",
              "tests/profiling/test_profiling_truth.py", "tests/profiling/test_worker_join.py",
              "tests/profiling/test_missing_subtask.py", "tests/profiling/test_progress_estimate.py",
              "tests/profiling/test_foreign_projects.py", "tests/profiling/test_profiling_graph.py",
              "tests/incremental/test_fast_noop.py", "tests/report/test_baseline_layout.py",
              "tests/scale/")


def pytest_addoption(parser):
    parser.addoption("--stress", action="store_true", default=False,
                     help="run the long crash/stress variants")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: runs doit or another interpreter in a subprocess "
        "(deselect with -m 'not slow' for the pure suite)")


def pytest_collection_modifyitems(config, items):
    slow = pytest.mark.slow
    for item in items:
        path = item.nodeid.split("::")[0]
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or path.startswith(SLOW_PATHS):
            item.add_marker(slow)
    if config.getoption("--stress"):
        return
    skip = pytest.mark.skip(reason="stress variant: run with --stress")
    for item in items:
        if "stress" in item.keywords:
            item.add_marker(skip)


def _running(item):
    # What the doit helpers check: a test that runs doit, in its body or through
    # a fixture it sets up, must be marked slow.
    support_doit.current_test = item
    try:
        return (yield)
    finally:
        support_doit.current_test = None


pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_running)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_running)


@pytest.fixture(autouse=True)
def _popen_restored():
    """Undo the profiling probe's Popen hook after each test: `probe.start()` in
    a unit test without its `stop()` would leave it installed in pytest's process."""
    yield
    from doit_conductor.profiling import probe
    probe._remove_child_hook()


@pytest.fixture
def project(tmp_path) -> Project:
    """A fresh copy of the repository's workflow (nothing built yet)."""
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def built_template(tmp_path_factory) -> Project:
    """One cold build of the workflow, shared read-only by the tests of a session."""
    built = copy_project(tmp_path_factory.mktemp("built") / "project")
    built.doit(check=True)
    return built


@pytest.fixture
def built(built_template, tmp_path) -> Project:
    """A private copy of a project that has been built once (faster than building)."""
    target = tmp_path / "built"
    shutil.copytree(built_template.root, target, symlinks=True)
    return Project(target)
