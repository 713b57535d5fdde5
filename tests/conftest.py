"""Shared fixtures: a temporary copy of the project and the real `doit` in a subprocess.

The helpers live in `tests.support`; tests import them from there.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support import doit as support_doit
from tests.support.projects import Project, copy_project

# Tests that use one of these fixtures run doit (or another interpreter) in a
# subprocess: they are `slow`.  Any other test that starts a process says so
# with `@pytest.mark.slow` (or a module's `pytestmark`); one that does not is
# stopped at its first process (`_processes_only_when_slow`), so the pure suite
# (`-m "not slow"`) is what the tests do, not which folder they are in.
SLOW_FIXTURES = {"project", "built", "built_template", "dodo_project", "fresh",
                 "reference", "workspace", "chromium"}


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
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
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
def _processes_only_when_slow(request, monkeypatch):
    """A test not marked slow that starts a process fails, naming itself."""
    if request.node.get_closest_marker("slow") is not None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it "
                             "@pytest.mark.slow (or use a fixture of SLOW_FIXTURES)")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


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
