"""The `GeneratedFiles` uptodate check: which manifest changes re-run a task."""
from __future__ import annotations

import hashlib
import os

import pytest

from doit_conductor import layout
from doit_conductor.codegen.manifest import MANIFEST_VERSION
from doit_conductor.state_files import write_state
from tasks.steps import artifacts
from tasks.steps.artifacts import GeneratedFiles, ManifestDigests

FILES = {
    "out/python/pkg/a.py": {"checksum": "a1", "pattern": "a"},
    "out/python/pkg/b.py": {"checksum": "b1", "pattern": "b"},
    "out/python/pkg2/c.py": {"checksum": "c1", "pattern": "c"},
    "out/schema.sql": {"checksum": "s1"},
    "out/sql/a.sql": {"checksum": "q1"},
    "out/docs/a.md": {"checksum": "d1"},
    "out/docs/index.md": {},
}


def plain_digest(files: dict, prefixes: tuple[str, ...], contents: bool) -> str:
    """The check as first written: a walk over the whole manifest."""
    hasher = hashlib.sha256()
    for path, entry in sorted(files.items()):
        if path.startswith(prefixes):
            checksum = entry.get("checksum") if contents else ""
            hasher.update(f"{path}\0{checksum}\n".encode())
    return hasher.hexdigest()


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    caches = (artifacts._MANIFEST_FILES, artifacts._MANIFEST_DIGESTS)
    for cache in caches:
        cache.clear()
    yield tmp_path
    for cache in caches:  # they hold this test's manifest: not the next one's business
        cache.clear()


def write_manifest(files: dict, mtime_ns: int) -> None:
    os.makedirs(os.path.dirname(layout.MANIFEST), exist_ok=True)
    write_state(layout.MANIFEST, {"version": MANIFEST_VERSION, "files": files})
    os.utime(layout.MANIFEST, ns=(mtime_ns, mtime_ns))


@pytest.mark.parametrize("prefixes", [
    ("out/python",), ("out/python/pkg/",), ("out/python/pkg",), ("out/s",), ("out/",),
    ("",), ("nowhere",), ("out/sql", "out/docs"), ("out/python", "out/python/pkg/b"),
    ("out/docs", "out/python/pkg2", "out/docs/index"), ("zzz", "out/schema.sql"),
])
@pytest.mark.parametrize("contents", [True, False])
def test_digest_is_the_plain_walk(prefixes, contents):
    digests = ManifestDigests(FILES)
    assert digests.digest(prefixes, contents) == plain_digest(FILES, prefixes, contents)


def test_empty_manifest():
    assert ManifestDigests({}).digest(("out",), True) == hashlib.sha256().hexdigest()


def test_ranges_merge_overlapping_prefixes():
    digests = ManifestDigests(FILES)
    assert [digests.paths[i] for lo, hi in digests.ranges(("out/python", "out/python/pkg/"))
            for i in range(lo, hi)] == sorted(p for p in FILES if p.startswith("out/python"))


def test_a_task_reruns_only_when_a_file_under_its_prefix_changes(workspace):
    sql, python = GeneratedFiles("out/sql"), GeneratedFiles("out/python")
    write_manifest(FILES, 1_000_000_000)
    saved = {sql.key: sql.current(), python.key: python.current()}
    assert sql(None, saved) and python(None, saved)

    changed = {**FILES, "out/sql/a.sql": {"checksum": "q2"}}
    write_manifest(changed, 2_000_000_000)
    assert not sql(None, saved)
    assert python(None, saved)
    assert sql.digest == plain_digest(changed, ("out/sql",), True)


def test_paths_only_check_ignores_content_but_not_new_files(workspace):
    docs = GeneratedFiles("out/docs", contents=False)
    write_manifest(FILES, 1_000_000_000)
    saved = {docs.key: docs.current()}
    write_manifest({**FILES, "out/docs/a.md": {"checksum": "d2"}}, 2_000_000_000)
    assert docs(None, saved)
    write_manifest({**FILES, "out/docs/b.md": {"checksum": "d3"}}, 3_000_000_000)
    assert not docs(None, saved)


def test_one_index_per_manifest_version(workspace):
    write_manifest(FILES, 1_000_000_000)
    first = artifacts.manifest_digests()
    assert artifacts.manifest_digests() is first
    write_manifest({**FILES, "out/new.txt": {"checksum": "n"}}, 2_000_000_000)
    second = artifacts.manifest_digests()
    assert second is not first and "out/new.txt" in second.paths


def test_no_manifest_yet(workspace):
    assert GeneratedFiles("out")(None, {}) is False
    assert GeneratedFiles("out").current() == hashlib.sha256().hexdigest()
