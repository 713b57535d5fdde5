"""Which delayed task creator made each task, and the task it waited for.

doit forgets it: a task creator decorated with `@create_after(executed=X)` is
loaded as a placeholder task whose `loader` names X, and when X has run doit
replaces the placeholder by the tasks the creator yields, which carry no trace
of X.  The reporter keeps a `DelayedCreators` over doit's live task dict and
asks it, per finished task, for the `create_after` task to record.

The loaders are read through `doit_conductor.glue.compat`; the attribution is:

* a placeholder's own name: its loader's task, known from the start;
* a task that appeared after one or more loaders ran: the loader whose
  basename (the placeholder's name, `basename`, or one of its `creates`) is the
  task's name or its `base` in `base:sub`; failing that, the only loader that ran
  since the last look, if there was exactly one.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from doit_conductor.glue import compat


class DelayedCreators:
    """Tracks doit's task dict: new tasks are attributed to the loader that made them."""

    def __init__(self, tasks: Mapping[str, object]) -> None:
        self._tasks = tasks
        self._known = set(tasks)
        self._pending: list[tuple[frozenset[str], object]] = []
        self._create_after: dict[str, str] = {}
        for name, task in tasks.items():
            loader = compat.delayed_loader(task)
            if loader is None or not compat.loader_waits_for(loader):
                continue
            self._create_after[name] = compat.loader_waits_for(loader)
            self._pending.append((_basenames(name, loader), loader))

    def create_after(self, name: str) -> str | None:
        """The task the creator of `name` waited for; None if no delayed creator made it."""
        if self._pending:
            self._observe()
        return self._create_after.get(name)

    def _observe(self) -> None:
        ran = [(names, loader) for names, loader in self._pending if compat.loader_ran(loader)]
        if not ran:
            return  # the common case: one list scan of the few unfinished loaders
        self._pending = [(n, lo) for n, lo in self._pending if not compat.loader_ran(lo)]
        new = [name for name in self._tasks if name not in self._known]
        self._known.update(new)
        for name in new:
            base = name.partition(":")[0]
            owners = [loader for names, loader in ran if name in names or base in names]
            if not owners and len(ran) == 1:
                owners = [ran[0][1]]
            if owners:
                self._create_after.setdefault(name, compat.loader_waits_for(owners[0]))


def _basenames(placeholder: str, loader: object) -> frozenset[str]:
    names = {placeholder, placeholder.partition(":")[0], *compat.loader_creates(loader)}
    basename = compat.loader_basename(loader)
    if basename:
        names.add(basename)
    return frozenset(names)


def pending_creators(tasks: Mapping[str, object], names: Iterable[str]) -> set[str]:
    """Those of `names` whose delayed creator has not run yet (their sub-tasks unknown)."""
    pending = set()
    for name in names:
        loader = compat.delayed_loader(tasks.get(name))
        if loader is not None and not compat.loader_ran(loader) and ":" not in name:
            pending.add(name)
    return pending
