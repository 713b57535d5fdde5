"""Which tasks the last snapshot still proves up to date after a few inputs changed.

When the fast no-op's sweep finds a change (`snapshot.first_change`), doit must
walk the tasks: something runs.  But doit's verdict on a task T depends only
on T's own definition (its file_dep set and its uptodate checks), the values
the dependency DB saved for T, the stats or contents of T's file_deps and of
what T's uptodate callables declare they read (`snapshot_paths`), and whether
T's targets exist.  The snapshot was taken when doit had just found every task
of the run up to date.  So, at the moment doit asks about T in the new run
(after every task T waits for has run), T is still up to date if

* nothing global moved since the snapshot (`walk_reason`: the DB, the dodo,
  the config, a loaded module, a directory a creator listed: any of those can
  change definitions, saved values or what a check does),
* T's definition has the digest recorded for it (`task_signature`),
* every file T's verdict reads has the stat the snapshot recorded, and none of
  them was recent enough to be kept by content (a stat alone does not prove
  those), and
* T's targets exist.

`Prejudged.up_to_date` applies that test; everything else goes to doit's own
check, which is always right and only slower.  The result is the same run as
a full walk (same tasks run, same output), with the status check of an
unchanged task costing a few stats instead of doit's DB reads and checker.

Pure apart from `os.stat`/`os.path.exists` at judgement time and the encoding:
no doit (the glue in `fast_noop` hands in plain values).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import xxhash

from doit_conductor.incremental.snapshot import Snapshot, Stat, file_stat, listing_digest
from doit_conductor.sealed import seal, unseal

SCHEMA_VERSION = 1
MAGIC = b"conductor-noop-verdicts 1 "


@dataclass(frozen=True, slots=True)
class Verdicts:
    """What the last snapshot adds for judging single tasks (`noop/verdicts`)."""

    key: tuple[str, ...]                 # the snapshot's key
    started_ns: int                      # the snapshot's, to pair the two files
    signatures: dict[str, str]           # task name -> task_signature when judged
    global_paths: frozenset[str]         # paths whose change voids every verdict


def task_signature(file_dep: Iterable[str], checks: Iterable[str]) -> str:
    """Digest of what doit's verdict on a task reads from its definition: the
    file_dep set and a description of each uptodate check (`checks`)."""
    text = "\0".join(sorted(file_dep)) + "\1" + "\0".join(checks)
    return xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogateescape"))


def changed_paths(snapshot: Snapshot, current: Iterable[Stat | None]) -> list[str]:
    """The paths of a sweep of `snapshot.paths` whose stat moved (a listing
    directory only when entries that matter came or went)."""
    changed = []
    for path, old, new in zip(snapshot.paths, snapshot.stats, current):
        if old == new:
            continue
        if path in snapshot.listings and old is not None and new is not None:
            listing, digest = snapshot.listings[path]
            if listing_digest(path, listing) == digest:
                continue
        changed.append(path)
    return changed


def walk_reason(snapshot: Snapshot, verdicts: Verdicts | None, key: tuple[str, ...],
                changed: Iterable[str]) -> str | None:
    """Why no task can be judged from the snapshot (every task goes to doit's
    check), or None: tasks whose own inputs did not move can be."""
    if verdicts is None:
        return "the last run left no verdicts to reuse"
    if verdicts.key != key or snapshot.key != key or verdicts.started_ns != snapshot.started_ns:
        return "the verdicts are not the last snapshot's"
    for path in changed:
        if path in verdicts.global_paths:
            return f"{path} changed, which any task's definition or check may read"
    return None


class Prejudged:
    """Judges single tasks from a snapshot whose global paths did not move."""

    def __init__(self, snapshot: Snapshot, verdicts: Verdicts) -> None:
        self._stats: Mapping[str, Stat | None] = dict(zip(snapshot.paths, snapshot.stats))
        self._by_content = frozenset(snapshot.contents)
        self._signatures = verdicts.signatures
        self.judged = 0   # tasks found up to date here, for `-v 2`

    def up_to_date(self, name: str, signature: str, reads: Iterable[str],
                   targets: Iterable[str]) -> bool:
        """Whether task `name` (definition digest `signature`, verdict reading
        the files `reads`, with `targets`) is still up to date; False means
        "ask doit", not "out of date"."""
        if self._signatures.get(name) != signature:
            return False
        for path in reads:
            if path in self._by_content or path not in self._stats:
                return False
            if file_stat(path) != self._stats[path]:
                return False
        if not all(os.path.exists(target) for target in targets):
            return False
        self.judged += 1
        return True


def encode(verdicts: Verdicts) -> bytes:
    return seal(MAGIC, {"schema_version": SCHEMA_VERSION, "key": verdicts.key,
                        "started_ns": verdicts.started_ns, "signatures": verdicts.signatures,
                        "global_paths": tuple(sorted(verdicts.global_paths))})


def decode(raw: bytes) -> Verdicts | None:
    """The verdicts in `raw`, or None if they are not ones this version wrote intact."""
    try:
        document = unseal(MAGIC, raw)
        if document["schema_version"] != SCHEMA_VERSION:
            return None
        return Verdicts(tuple(document["key"]), int(document["started_ns"]),
                        dict(document["signatures"]), frozenset(document["global_paths"]))
    except (ValueError, KeyError, TypeError, EOFError):
        return None
