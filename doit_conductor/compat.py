"""Every private doit or CPython API doit-conductor relies on, in one place.

Each function here stands for one assumption about upstream internals, and
`tests/test_compat.py` checks each assumption against the installed doit and
Python, so an upgrade that changes one fails there, by name, instead of
somewhere deep in a build.  Nothing here is imported on plain doit's path
beyond what doit itself imports.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from doit.task import DelayedLoader

# -- doit: delayed task creation (doit.task.DelayedLoader, doit.control) -------
# `@create_after(executed=X)` puts a DelayedLoader on the creator; doit loads it
# as a placeholder Task whose `loader` is that object, sets `loader.created`
# once the creator ran and replaces `task.loader` by `DelayedLoaded` (False).
LOADER_ATTRIBUTES = ("task_dep", "created", "basename", "creates")


def delayed_loader(task: object) -> DelayedLoader | None:
    """The DelayedLoader of a placeholder task, or None for any other task."""
    loader = getattr(task, "loader", None)
    return loader if isinstance(loader, DelayedLoader) else None


def loader_waits_for(loader: DelayedLoader) -> str | None:
    """The `create_after` task: the creator runs once it has."""
    return loader.task_dep or None


def loader_ran(loader: DelayedLoader) -> bool:
    """Whether doit has called the creator (its tasks are in the task dict)."""
    return bool(loader.created)


def loader_basename(loader: DelayedLoader) -> str | None:
    """The basename doit set when a sub-task of the creator was selected."""
    return loader.basename


def loader_creates(loader: DelayedLoader) -> tuple[str, ...]:
    """Basenames the creator declares it creates besides its own (`creates=`)."""
    return tuple(loader.creates)


# -- CPython: how subprocess.Popen reaps its child (3.11-3.13) -----------------
# `Popen._try_wait(self, wait_flags)` calls os.waitpid for wait(); and
# `Popen._internal_poll(self, _deadstate=None, _waitpid=os.waitpid, ...)` binds
# os.waitpid as a default argument for poll().  Replacing both makes every reap
# go through wait4, which also returns the child's resource usage.
POPEN_REAP_ATTRIBUTES = ("_try_wait", "_internal_poll")


def install_popen_reaper(try_wait: Callable, waitpid: Callable) -> Callable[[], None] | None:
    """Make subprocess.Popen reap children with `try_wait` / `waitpid`.

    Returns the function that puts Popen back as it was, or None (nothing
    changed) where os.wait4 or Popen's private methods are not as expected.
    """
    popen = subprocess.Popen
    if not hasattr(os, "wait4") or "_try_wait" not in vars(popen):
        return None
    saved_try_wait = vars(popen)["_try_wait"]
    poll = vars(popen).get("_internal_poll")
    saved_defaults = getattr(poll, "__defaults__", None)
    popen._try_wait = try_wait
    if saved_defaults and os.waitpid in saved_defaults:
        poll.__defaults__ = tuple(waitpid if d is os.waitpid else d for d in saved_defaults)

    def undo() -> None:
        popen._try_wait = saved_try_wait
        if poll is not None and saved_defaults is not None:
            poll.__defaults__ = saved_defaults

    return undo
