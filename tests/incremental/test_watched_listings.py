"""Which directories the fast no-op watches for the targets in them, however a
target path is spelled (doit_conductor/glue/fast_noop.watched_listings)."""
from __future__ import annotations

import os
import types

from doit_conductor.glue.fast_noop import watched_listings
from doit_conductor.incremental.snapshot import Listing

SPELLINGS = ["out.txt", "/abs.txt", "a//double.txt", "a/b/c.txt", "/tmp/x/y.txt", "./here.txt",
             "../up.txt", "a/./dot.txt", "//root2.txt", "a/b/"]


def test_targets_are_grouped_by_the_directory_os_path_split_gives():
    run = [types.SimpleNamespace(targets=SPELLINGS[:5]), types.SimpleNamespace(targets=SPELLINGS[5:])]
    expected: dict[str, set[str]] = {}
    for target in SPELLINGS:
        directory, name = os.path.split(target)
        expected.setdefault(directory or ".", set()).add(name)
    listings = watched_listings(run, modules=["a/b/mod.py"])
    assert listings == {directory: Listing(tuple(sorted(names)), directory == "a/b")
                        for directory, names in sorted(expected.items())}
