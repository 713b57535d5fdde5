"""Around a task's execution: restore it from the action cache, or run and store it.

`execute(task, run, announce)` is what the runners call where a task would run
(`doit_conductor.profiling.runner`), inside the probe, so a hit's record shows
the time and IO the restore took; under `-n`, `restore_before_dispatch` is
called first in doit's process for a store on this machine.  The cache of
the run is process-wide
(`activate`), set by the `run` command before the runners start, so `-n`
workers forked from it have it too.

A hit writes the task's targets, does not run it, and marks it with
`CACHED_ATTRIBUTE` (part of the task's `__dict__`, so it reaches the main
process with the `-n` result); the reporter records it as `cached`.  Counters
of the task's record: `action_cache_hits` / `action_cache_misses`,
`action_cache_bytes_read` / `action_cache_bytes_written`, and on a hit the
counters of the run that produced the entry, prefixed `cached:`.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from doit.exceptions import TaskError

from doit_conductor.errors import UserError
from doit_conductor.fsio import read_bytes, write_if_changed
from doit_conductor.profiling import counters
from doit_conductor.scale import cache_entry
from doit_conductor.scale.action_key import CacheSpec, spec_of, task_key
from doit_conductor.scale.action_store import ActionStore

CACHED_ATTRIBUTE = "conductor_cached"
HITS = "action_cache_hits"
MISSES = "action_cache_misses"
BYTES_READ = "action_cache_bytes_read"
BYTES_WRITTEN = "action_cache_bytes_written"
SAVED_PREFIX = "cached:"
_KEY_ATTRIBUTE = "conductor_cache_key"   # the task's key, for storing a miss's result
_MISSED_ATTRIBUTE = "conductor_cache_missed"   # looked up where dispatched: no entry

_store: ActionStore | None = None


def activate(url: str | None) -> None:
    """Use the store at `url` for this process's runs (None: no cache)."""
    global _store
    _store = ActionStore(url) if url else None


def active_store() -> ActionStore | None:
    return _store


def execute(task, run: Callable[[], object], announce: Callable[[], None]) -> object:
    """`run()`'s failure (None on success), or None after restoring a hit.

    `announce` tells the reporter the task starts, which `run` does itself.  A
    restore that fails (a full disk) is the task's failure; a refused path (a
    UserError) ends the run, as everywhere else."""
    try:
        if try_restore(task, announce):
            return None
    except UserError:
        raise
    except Exception as exc:
        return restore_failure(task, exc)
    failure = run()
    if failure is None:
        store_result(task)
    return failure


def restore_failure(task, exc: Exception) -> TaskError:
    return TaskError(f"restoring {task.name} from the action cache: {exc}")


def try_restore(task, announce: Callable[[], None] = lambda: None) -> bool:
    """Restore `task` from the active store if it opts in and has an entry;
    otherwise count a miss (for an opted-in task) and return False."""
    store, spec = _store, spec_of(task) if _store is not None else None
    if store is None or spec is None:
        return False
    if getattr(task, _MISSED_ATTRIBUTE, False):
        counters.add(MISSES)   # looked up already, where it was dispatched
        return False
    return _restore_found(task, spec, store, announce, count_miss=True)


def restore_before_dispatch(task, announce: Callable[[], None]) -> bool:
    """`try_restore` in the process that hands tasks to workers, for a store on
    this machine: a hit is written here, without the round trip to a worker
    that costs more than the restore.  A miss is not counted here but marked
    on the task, so the worker that runs it counts it without looking again."""
    store, spec = _store, spec_of(task) if _store is not None else None
    if store is None or spec is None or not store.local:
        return False
    if _restore_found(task, spec, store, announce, count_miss=False):
        return True
    setattr(task, _MISSED_ATTRIBUTE, True)
    return False


def _restore_found(task, spec: CacheSpec, store: ActionStore, announce: Callable[[], None],
                   count_miss: bool) -> bool:
    key = getattr(task, _KEY_ATTRIBUTE, None)   # computed where the task was dispatched
    if key is None:
        key = compute_key(task)
        if key is None:
            return False   # a missing file_dep: doit's own run reports it
    entry = lookup(store, key, task.name)
    if entry is not None and not _verified(entry, spec, store, task.name):
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
    setattr(task, CACHED_ATTRIBUTE, True)
    return True


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


def store_result(task, task_counters: dict[str, float] | None = None) -> None:
    """After a successful run of a task that missed: store its targets."""
    key = getattr(task, _KEY_ATTRIBUTE, None)
    if _store is not None and key is not None:
        save(_store, key, task, task_counters)


def lookup(store: ActionStore, key: str, task_name: str) -> cache_entry.CacheEntry | None:
    """The verified entry for `key`, or None: absent, unreachable or damaged
    (one warning, and the damaged entry is removed so the new result replaces it)."""
    try:
        data = store.get(key)
    except Exception as exc:  # fsspec backends raise their own kinds
        # One warning, then this process runs without the cache: a store that
        # is down must not cost a timeout (and a line) per task.
        _warn(f"action cache at {store.url} unreachable ({type(exc).__name__}: {exc}); "
              "running without it")
        activate(None)
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


def _verified(entry: cache_entry.CacheEntry, spec: CacheSpec, store: ActionStore,
              task_name: str) -> bool:
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
            store.discard(entry.key)
        except Exception:
            pass
        return False
    return True


def restore(entry: cache_entry.CacheEntry, spec: CacheSpec) -> None:
    """Write a hit's files: through the task's own `restore`, or each atomically
    (a file already holding the content is left untouched)."""
    if spec.restore:
        function, args = spec.restore
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
