"""Which codegen batch builds each pattern, and what each pattern's output is made from.

Task 8 runs one doit sub-task per *batch* of patterns, not per pattern: doit's
cost per task (create, check, save, report, profile) paid a thousand times was
most of a cold build's overhead.  A batch must be

* deterministic and stable under edits: a pattern's batch depends only on its
  name and its dependency level, so editing one pattern re-runs one batch, and
  adding one touches one batch;
* ordered after the batches holding its patterns' dependencies: a pattern's
  level is the length of its longest `depends_on` chain, so a batch of level L
  only depends on batches of lower levels and the batch graph has no cycle.

Inside a batch each pattern is skipped when its *input digest* (everything its
files are made from: its pattern file and those of the patterns it depends on,
the kinds table, its plan entry, the digests of the templates it reads and the
codegen settings; `pattern_digest`) is the one recorded when its files were
last written.  Pure: plain data in and out.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import xxhash

from doit_conductor.fsio import dump_json

# Buckets per dependency level.  Sixteen keeps a 1,000-pattern build at a few
# dozen tasks (the prototype's 16 sub-tasks ran 1.73x faster than a careful
# plain-doit build) while leaving enough tasks for `-n` workers to share.
BUCKETS = 16
PREFIX = "_batch-"   # pattern names start with a letter: no clash with `codegen:<pattern>`


def levels(depends_on: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """The dependency level of each pattern: 0 without dependencies, else one more
    than its deepest dependency.  `depends_on` must be acyclic (task 6 checks it);
    a dependency that is not a key counts as level 0."""
    level: dict[str, int] = {}
    for start in depends_on:
        stack = [start]
        while stack:
            name = stack[-1]
            if name in level:
                stack.pop()
                continue
            pending = [d for d in depends_on.get(name, ()) if d not in level and d in depends_on]
            if pending:
                stack.extend(pending)
                continue
            level[name] = 1 + max((level.get(d, 0) for d in depends_on.get(name, ())
                                   if d in depends_on), default=-1)
            stack.pop()
    return level


def bucket(name: str) -> int:
    """The bucket of a pattern within its level, from its name alone."""
    return xxhash.xxh3_64_intdigest(name.encode()) % BUCKETS


def assign(depends_on: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Batch name -> its patterns (sorted), for every pattern of `depends_on`.

    A level of at most BUCKETS patterns gives each its own batch
    (`_batch-<level>-<pattern>`): hashing three patterns into sixteen buckets
    puts two in one bucket one time in five, and `doit -n 3` on three patterns
    must run three at once.  A library crossing that size moves the patterns of
    one level once; edits move nothing."""
    level = levels(depends_on)
    by_level: dict[int, list[str]] = {}
    for name in sorted(depends_on):
        by_level.setdefault(level[name], []).append(name)
    batches: dict[str, list[str]] = {}
    for number, names in by_level.items():
        for name in names:
            key = name if len(names) <= BUCKETS else f"{bucket(name):02d}"
            batches.setdefault(f"{PREFIX}{number}-{key}", []).append(name)
    return dict(sorted(batches.items()))


def batch_dependencies(batches: Mapping[str, list[str]],
                       depends_on: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Batch name -> the batches holding its patterns' dependencies (sorted)."""
    home = {name: batch for batch, names in batches.items() for name in names}
    return {batch: sorted({home[d] for name in names for d in depends_on.get(name, ())
                           if d in home} - {batch})
            for batch, names in batches.items()}


def digest(value: object) -> str:
    """xxh3-128 of a JSON value's canonical bytes."""
    return xxhash.xxh3_128_hexdigest(dump_json(value))


def pattern_digest(plan_entry: dict, source_digest: str, dependency_digests: list[str],
                   template_digests: Mapping[str, str], kinds_digest: str,
                   settings_digest: str) -> str:
    """The input digest of a pattern from digests already known: its pattern file's
    content (its validated form is a function of it and the kinds table), those
    of the files of the patterns it depends on, its plan entry, the templates it
    reads and the settings.  What task 7 computes for every pattern of a run,
    without encoding any pattern again."""
    # the plan entry spelled out rather than encoded as JSON: a thousand small
    # json.dumps calls were most of task 7's time on an edit
    parts = [kinds_digest, settings_digest, source_digest, *dependency_digests, "plan",
             plan_entry["name"], plan_entry["source"], *plan_entry["depends_on"], "from",
             *plan_entry["dep_sources"], "outputs",
             *(f"{o['template']}>{o['path']}" for o in plan_entry["outputs"]), "templates",
             *(f"{t}={template_digests[t]}" for t in plan_entry["templates"])]
    return xxhash.xxh3_128_hexdigest("\0".join(parts).encode())
