"""Every upstream internal `doit_conductor.compat` relies on, checked against what is installed.

A failure here names the assumption an upgrade of doit or Python broke.
"""
from __future__ import annotations

import inspect
import os
import subprocess
import sys

from doit.task import DelayedLoader, Task

from doit_conductor import compat
from doit_conductor.profiling import probe


def test_delayed_loader_has_the_attributes_we_read():
    loader = DelayedLoader(lambda: None, executed="first", creates=["other"])
    for name in compat.LOADER_ATTRIBUTES:
        assert hasattr(loader, name), f"doit.task.DelayedLoader lost `{name}`"
    placeholder = Task("made", None, loader=loader)
    assert compat.delayed_loader(placeholder) is loader
    assert compat.loader_waits_for(loader) == "first"
    assert compat.loader_creates(loader) == ("other",)
    assert not compat.loader_ran(loader)
    # doit puts its own create_after task into the placeholder's task_dep
    assert placeholder.task_dep == ["first"]
    assert compat.delayed_loader(Task("plain", ["true"])) is None


def test_popen_reaping_methods_are_where_the_hook_expects_them():
    for name in compat.POPEN_REAP_ATTRIBUTES:
        assert name in vars(subprocess.Popen), f"subprocess.Popen lost `{name}`"
    assert list(inspect.signature(subprocess.Popen._try_wait).parameters) == ["self", "wait_flags"]
    assert os.waitpid in subprocess.Popen._internal_poll.__defaults__


def test_popen_hook_is_installed_only_while_a_task_is_measured():
    original = vars(subprocess.Popen)["_try_wait"]
    defaults = subprocess.Popen._internal_poll.__defaults__
    started = probe.start()
    try:
        assert vars(subprocess.Popen)["_try_wait"] is not original
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    finally:
        measurement = probe.stop(started)
    assert vars(subprocess.Popen)["_try_wait"] is original
    assert subprocess.Popen._internal_poll.__defaults__ == defaults
    assert measurement.exit_status == 0
