"""The action cache below doit: keys, entries, eviction, the store."""
from __future__ import annotations

import pytest

from doit_conductor.scale import cache_entry
from doit_conductor.scale.action_key import action_key
from doit_conductor.eviction import StoredEntry, evictions
from doit_conductor.scale.action_store import ActionStore, store_url
from doit_conductor.scale.cache_summary import cache_totals, summary_line

KEY = "ab" * 32


def _key(**changes) -> str:
    inputs = dict(name="codegen:x", actions=[{"python": "m.f", "args": [1]}],
                  code={"pkg": "c0"}, libraries={"jinja2": "3.1"}, settings={"a": 1},
                  file_dep={"p.yaml": "d0"}, targets=["out/x.py"])
    inputs.update(changes)
    return action_key(**inputs)


def test_key_is_stable_and_changes_with_every_input():
    assert _key() == _key()
    variants = [dict(name="codegen:y"), dict(actions=[{"python": "m.f", "args": [2]}]),
                dict(code={"pkg": "c1"}), dict(libraries={"jinja2": "3.2"}),
                dict(settings={"a": 2}), dict(file_dep={"p.yaml": "d1"}),
                dict(targets=["out/y.py"])]
    keys = {_key(**variant) for variant in variants}
    assert len(keys) == len(variants) and _key() not in keys


def test_key_of_settings_json_cannot_sort_or_hold():
    # keys of mixed types, a tuple, a function: described, and the same every time
    settings = {1: "one", "b": (1, 2), "f": test_entry_round_trip}
    assert _key(settings=settings) == _key(settings=dict(settings))
    assert _key(settings=settings) != _key(settings={**settings, 1: "uno"})
    assert _key(settings=settings) != _key(settings={**settings, "f": _key})


def test_entry_round_trip():
    entry = cache_entry.CacheEntry(KEY, {"b.txt": b"two", "a.txt": b""}, {"files_rendered": 2})
    assert cache_entry.decode(cache_entry.encode(entry), KEY) == entry


def test_every_damaged_byte_is_detected():
    data = cache_entry.encode(cache_entry.CacheEntry(KEY, {"a.txt": b"hello"}, {}))
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x01
        with pytest.raises(cache_entry.DamagedEntry):
            cache_entry.decode(bytes(damaged), KEY)
    for cut in (0, 10, len(data) - 1):
        with pytest.raises(cache_entry.DamagedEntry):
            cache_entry.decode(data[:cut], KEY)


def test_entry_under_another_key_is_refused():
    data = cache_entry.encode(cache_entry.CacheEntry(KEY, {"a": b"x"}, {}))
    with pytest.raises(cache_entry.DamagedEntry, match="another key"):
        cache_entry.decode(data, "cd" * 32)


def test_evictions_by_age_then_oldest_first_by_size():
    entries = [StoredEntry("old", 10, 0.0), StoredEntry("a", 10, 80.0),
               StoredEntry("b", 10, 90.0), StoredEntry("c", 10, 95.0)]
    assert [e.path for e in evictions(entries, max_bytes=20, max_age_s=50.0, now=100.0)] \
        == ["old", "a"]
    assert evictions(entries, now=100.0) == []
    # the template cache's bounds: by count too, and 0 keeps nothing
    assert [e.path for e in evictions(entries, max_entries=2)] == ["old", "a"]
    assert len(evictions(entries, max_entries=0)) == 4


def test_store_url_resolves_directories_inside_the_project(tmp_path):
    assert store_url("", tmp_path) == f"file://{tmp_path}/.conductor/cache/actions"
    assert store_url("shared", tmp_path) == f"file://{tmp_path}/shared"
    assert store_url("s3://bucket/prefix", tmp_path) == "s3://bucket/prefix"


def test_summary_line_counts_hits_misses_and_bytes():
    totals = cache_totals([{"action_cache_hits": 1, "action_cache_bytes_read": 2048},
                           {"action_cache_misses": 1, "action_cache_bytes_written": 1024}, {}])
    assert summary_line(totals) == "action cache: 1 hit, 1 miss, 2.0 KiB read, 1.0 KiB written"
    assert summary_line(cache_totals([{}])) is None


def _write_out(path):
    with open(path, "w") as handle:
        handle.write("built")


def _disk_full(files):
    raise OSError(28, "No space left on device")


def test_a_restore_that_fails_is_the_tasks_failure_not_a_crash(tmp_path):
    from doit.exceptions import TaskError
    from doit.task import Task
    from doit_conductor.glue import cached_execution

    target = tmp_path / "out.txt"

    def task():
        return Task("t", [(_write_out, [str(target)])], targets=[str(target)],
                    meta={"conductor_cache": {"restore": (_disk_full, [])}})

    cache = cached_execution.ActionCache(f"file://{tmp_path / 'store'}")
    first = task()
    assert cache.execute(first, lambda: _write_out(target), lambda: None) == (None, False)
    second = task()   # a hit, whose restore fails
    failure, cached = cache.execute(
        second, lambda: pytest.fail("a hit must not run"), lambda: None)
    assert not cached and isinstance(failure, TaskError)
    assert "restoring t from the action cache" in str(failure)


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_store_writes_once_and_discards(tmp_path, scheme):
    """The same contract through `os` (file://) and through fsspec (memory://)."""
    root = f"file://{tmp_path / 'store'}" if scheme == "file" else f"memory://{tmp_path.name}"
    store = ActionStore(root)
    key = "ab" + "0" * 62
    assert store.get(key) is None
    assert store.put(key, b"first") is True
    assert store.put(key, b"second") is False   # the same key is the same content
    assert store.get(key) == b"first"
    store.discard(key)
    store.discard(key)   # gone already: nothing to say
    assert store.get(key) is None
    assert store.local is (scheme == "file")
    if scheme == "file":
        assert [p.name for p in (tmp_path / "store" / "ab").iterdir()] == []   # no temporary left
