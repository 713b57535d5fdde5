"""Bounding a cache directory: which entries go, and what was kept.

Both caches on disk use it: the template bytecode cache (by count and size,
least recently used first: a hit refreshes an entry's mtime) and a local
action store (by age, then size, oldest written first).  `evictions` is the
pure policy; `collect` applies it to a directory's entries.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from doit_conductor import safe_fs


@dataclass(frozen=True, slots=True)
class StoredEntry:
    path: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Collected:
    kept: int
    kept_bytes: int
    removed: int
    removed_bytes: int


def evictions(entries: list[StoredEntry], *, max_entries: int | None = None,
              max_bytes: int | None = None, max_age_s: float | None = None,
              now: float = 0.0) -> list[StoredEntry]:
    """Which entries to remove: every one older than `max_age_s`, then the
    oldest of the rest until at most `max_entries` and `max_bytes` remain
    (None: that bound does not apply)."""
    too_old = [e for e in entries if max_age_s is not None and now - e.mtime > max_age_s]
    rest = sorted((e for e in entries if e not in too_old), key=lambda e: (e.mtime, e.path))
    count, total = len(rest), sum(e.size for e in rest)
    removed = list(too_old)
    for entry in rest:
        if (max_entries is None or count <= max_entries) and \
                (max_bytes is None or total <= max_bytes):
            break
        removed.append(entry)
        count -= 1
        total -= entry.size
    return removed


def collect(entries: list[StoredEntry], *, max_entries: int | None = None,
            max_bytes: int | None = None, max_age_s: float | None = None,
            stray: list[StoredEntry] = (), now: float | None = None,
            root: str | os.PathLike | None = None) -> Collected:
    """Remove the `evictions` among `entries` (regular files, as `stored_files`
    lists them), and the files `stray` (counted as removed).  Paths are
    relative to `root` (see `safe_fs`): nothing is deleted through a link."""
    leftovers = list(stray)
    now = time.time() if now is None else now
    doomed = evictions(entries, max_entries=max_entries, max_bytes=max_bytes,
                       max_age_s=max_age_s, now=now) + leftovers
    for entry in doomed:
        safe_fs.unlink(entry.path, root=root)
    gone = {e.path for e in doomed}
    kept = [e for e in entries if e.path not in gone]
    return Collected(len(kept), sum(e.size for e in kept),
                     len(doomed), sum(e.size for e in doomed))


def stored_files(listing: list[safe_fs.Entry]) -> list[StoredEntry]:
    """The regular files of a `safe_fs` listing, as entries a collection may
    remove (a link, a directory or a FIFO in a cache is not an entry: left alone)."""
    return [StoredEntry(e.path, e.size, e.mtime) for e in listing if e.kind == safe_fs.FILE]
