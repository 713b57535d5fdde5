"""Around a task's execution: restore it from the action cache, or run and store it.

An `ActionCache` is made by the run command for the store the run names
(`--cache`, `[tool.conductor.cache]`) and handed to the runners, which call
`execute(task, run, announce)` where a task would run, inside the probe
(`execution.execute_task`), so a hit's record shows the time and IO the
restore took; under `-n`, `restore_before_dispatch` is called first in doit's
process for a store on this machine.  `-n` workers forked from that process
have the same object.

A hit writes the task's targets and does not run it; the execution chain
records it as cached (`TaskNotes.cached`).  Counters of the task's record:
`action_cache_hits` / `action_cache_misses`, `action_cache_bytes_read` /
`action_cache_bytes_written`, and on a hit the counters of the run that
produced the entry, prefixed `cached:`.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from doit.exceptions import TaskError

from doit_conductor.errors import UserError
from doit_conductor.glue.console import to_console
from doit_conductor.fsio import read_bytes, write_if_changed
from doit_conductor.profiling import counters
from doit_conductor.scale import cache_entry
from doit_conductor.scale.action_key import CacheSpec, spec_of, task_key
from doit_conductor.scale.action_store import ActionStore

HITS = "action_cache_hits"
MISSES = "action_cache_misses"
BYTES_READ = "action_cache_bytes_read"
BYTES_WRITTEN = "action_cache_bytes_written"
SAVED_PREFIX = "cached:"
# Set where a task is dispatched, read where it runs (they travel with the task):
_KEY_ATTRIBUTE = "conductor_cache_key"   # the task's key, for storing a miss's result
_MISSED_ATTRIBUTE = "conductor_cache_missed"   # looked up where dispatched: no entry


class ActionCache:
    """The run's action cache: one store, looked up and filled per task."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.store: ActionStore | None = ActionStore(url)

    @property
    def restores_locally(self) -> bool:
        """Whether doit's process restores hits itself (a store on this machine)."""
        return self.store is not None and self.store.local

    def execute(self, task, run: Callable[[], object],
                announce: Callable[[], None]) -> tuple[object, bool]:
        """(`run()`'s failure or None, whether a hit was restored instead).

        A restore that fails (a full disk) is the task's failure; a refused
        path (a UserError) ends the run, as everywhere else."""
        try:
            if self.try_restore(task, announce):
                return None, True
        except UserError:
            raise
        except Exception as exc:
            return self.restore_failure(task, exc), False
        failure = run()
        if failure is None:
            self.store_result(task)
        return failure, False

    @staticmethod
    def restore_failure(task, exc: Exception) -> TaskError:
        return TaskError(f"restoring {task.name} from the action cache: {exc}")

    def try_restore(self, task, announce: Callable[[], None] = lambda: None) -> bool:
        """Restore `task` if it opts in and has an entry; otherwise count a miss
        (for an opted-in task) and return False."""
        spec = spec_of(task) if self.store is not None else None
        if spec is None:
            return False
        if getattr(task, _MISSED_ATTRIBUTE, False):
            counters.add(MISSES)   # looked up already, where it was dispatched
            return False
        return self._restore_found(task, spec, announce, count_miss=True)

    def restore_before_dispatch(self, task, announce: Callable[[], None]) -> bool:
        """`try_restore` in the process that hands tasks to workers: a hit is
        written here, without the round trip to a worker that costs more than
        the restore.  A miss is not counted here but marked on the task, so the
        worker that runs it counts it without looking again."""
        spec = spec_of(task) if self.restores_locally else None
        if spec is None:
            return False
        if self._restore_found(task, spec, announce, count_miss=False):
            return True
        setattr(task, _MISSED_ATTRIBUTE, True)
        return False

    def _restore_found(self, task, spec: CacheSpec, announce: Callable[[], None],
                       count_miss: bool) -> bool:
        key = getattr(task, _KEY_ATTRIBUTE, None)   # computed where the task was dispatched
        if key is None:
            key = compute_key(task)
            if key is None:
                return False   # a missing file_dep: doit's own run reports it
        entry = self.lookup(key, task.name)
        if entry is not None and not self._verified(entry, spec, task.name):
            entry = None
        if entry is None or set(entry.files) != set(task.targets):
            if count_miss:
                counters.add(MISSES)
            return False
        announce()
        restore(entry, spec)
        counters.add(HITS)
        for name, value in entry.counters.items():
            if not name.startswith(("action_cache_", SAVED_PREFIX)):
                counters.add(SAVED_PREFIX + name, value)
        return True

    def _verified(self, entry: cache_entry.CacheEntry, spec: CacheSpec, task_name: str) -> bool:
        """Whether the task's own check (its restore function's `verify`, if any)
        accepts the entry's files; one that does not is treated as damaged."""
        verify = getattr(spec.restore[0], "verify", None) if spec.restore else None
        if verify is None:
            return True
        try:
            verify(entry.files, *spec.restore[1])
        except cache_entry.DamagedEntry as exc:
            _warn(f"action cache entry {entry.key[:16]} for {task_name} is damaged ({exc}); "
                  "running the task instead")
            try:
                self.store.discard(entry.key)
            except Exception:
                pass
            return False
        return True

    def store_result(self, task, task_counters: dict[str, float] | None = None) -> None:
        """After a successful run of a task that missed: store its targets."""
        key = getattr(task, _KEY_ATTRIBUTE, None)
        if self.store is not None and key is not None:
            save(self.store, key, task, task_counters)

    def lookup(self, key: str, task_name: str) -> cache_entry.CacheEntry | None:
        """The verified entry for `key`, or None: absent, unreachable or damaged
        (one warning, and the damaged entry is removed so the new result replaces it)."""
        store = self.store
        try:
            data = store.get(key)
        except Exception as exc:  # fsspec backends raise their own kinds
            # One warning, then this process runs without the cache: a store that
            # is down must not cost a timeout (and a line) per task.
            _warn(f"action cache at {store.url} unreachable ({type(exc).__name__}: {exc}); "
                  "running without it")
            self.store = None
            return None
        if data is None:
            return None
        try:
            entry = cache_entry.decode(data, key)
        except cache_entry.DamagedEntry as exc:
            _warn(f"action cache entry {key[:16]} for {task_name} is damaged ({exc}); "
                  "running the task instead")
            try:
                store.discard(key)
            except Exception:
                pass
            return None
        counters.add(BYTES_READ, len(data))
        return entry


def compute_key(task) -> str | None:
    """The task's key, kept on it; None when it does not opt in or a file_dep is
    missing.  A runner that sends tasks elsewhere computes it where the inputs
    are (`-n` workers share the project, a Dask worker may not)."""
    spec = spec_of(task)
    if spec is None:
        return None
    try:
        key = task_key(task, spec)
    except OSError:
        return None
    setattr(task, _KEY_ATTRIBUTE, key)
    return key

def restore(entry: cache_entry.CacheEntry, spec: CacheSpec) -> None:
    """Write a hit's files: through the task's own `restore`, or each atomically
    (a file already holding the content is left untouched)."""
    if spec.restore:
        function, args = spec.restore
        with to_console():
            function(entry.files, *args)
        return
    for path, data in entry.files.items():
        write_if_changed(path, data)


def save(store: ActionStore, key: str, task, task_counters: dict[str, float] | None = None) -> None:
    """Store the task's targets under `key` with its counters (by default this
    process's, for a task measured here); a store that fails is a warning."""
    files = {}
    for target in task.targets:
        path = Path(target)
        if not path.is_file():
            return   # a directory or missing target: nothing exact to store
        files[target] = read_bytes(path)
    data = cache_entry.encode(cache_entry.CacheEntry(
        key, files, counters.snapshot() if task_counters is None else task_counters))
    try:
        if store.put(key, data):
            counters.add(BYTES_WRITTEN, len(data))
    except Exception as exc:
        _warn(f"action cache: could not store {task.name} ({type(exc).__name__}: {exc})")


def _warn(message: str) -> None:
    sys.stderr.write(f"WARNING: {message}\n")
