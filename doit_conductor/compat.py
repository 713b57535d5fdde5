"""Every private doit or CPython API doit-conductor relies on, in one place.

Each function here stands for one assumption about upstream internals, and
`tests/test_compat.py` checks each assumption against the installed doit and
Python, so an upgrade that changes one fails there, by name, instead of
somewhere deep in a build.  Nothing here is imported on plain doit's path
beyond what doit itself imports.
"""
from __future__ import annotations

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
