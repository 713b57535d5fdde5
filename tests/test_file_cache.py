"""FileVersionCache: one derivation per file version, only the latest kept."""
from __future__ import annotations

import os

from doit_conductor.file_cache import FileVersionCache


def test_derived_once_per_version_and_again_when_the_file_changes(tmp_path):
    path = tmp_path / "state.json"
    calls = []
    cache = FileVersionCache(str(path), lambda p: calls.append(p) or (open(p).read()
                                                                     if os.path.exists(p) else None))
    assert cache.get() is None and cache.get() is None   # missing is a version too
    path.write_text("one")
    os.utime(path, ns=(1, 1_000_000_000))
    assert cache.get() == "one" and cache.get() == "one"
    path.write_text("two!")
    os.utime(path, ns=(1, 2_000_000_000))
    assert cache.get() == "two!"
    assert len(calls) == 3
    cache.clear()
    assert cache.get() == "two!" and len(calls) == 4
