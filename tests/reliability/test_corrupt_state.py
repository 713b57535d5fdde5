"""Corrupted state: a truncated or garbled dependency DB, template cache entry,
compile manifest, codegen batch record, validated pattern index or metrics file is
detected, reported in one line, and rebuilt or ignored, never used as valid.
Every case ends with the clean build's output/."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.conftest import run
from doit_conductor.profiling import store
from doit_conductor.state_files import read_state

CACHE = ".conductor/cache"


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def garble(path: Path) -> None:
    """Flip bits in the middle of the file, keeping its size."""
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, min(len(data), len(data) // 2 + 8)):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


DAMAGE = {"truncated": truncate, "garbled": garble}


def warnings_about(result, fragment: str) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("WARNING: ") and fragment in line]


def assert_recovered(project, reference, result) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Traceback" not in text, text
    assert project.tree() == reference.tree()


@pytest.mark.parametrize("damage", DAMAGE)
def test_dependency_db(fresh, reference, damage):
    db = fresh.path(".conductor/doit.db")
    DAMAGE[damage](db)
    result = run(fresh)
    assert len(warnings_about(result, ".conductor/doit.db: unreadable dependency DB")) == 1
    assert fresh.path(".conductor/doit.db.corrupt").exists()
    assert_recovered(fresh, reference, result)
    again = run(fresh)
    assert again.returncode == 0 and "WARNING" not in again.stdout + again.stderr
    assert fresh.did_nothing(again), again.stdout


def test_a_db_set_aside_twice(fresh, reference):
    """A DB that was a directory is set aside as one; a DB damaged later is set
    aside beside it, not left to fail every run on the taken name."""
    db = fresh.path(".conductor/doit.db")
    data = db.read_bytes()
    db.unlink()
    db.mkdir()
    first = run(fresh)
    assert first.returncode == 0 and fresh.path(".conductor/doit.db.corrupt").is_dir()
    db.write_bytes(data[:len(data) // 2])
    result = run(fresh)
    assert len(warnings_about(result, "moved to .conductor/doit.db.corrupt-1")) == 1
    assert_recovered(fresh, reference, result)


@pytest.mark.parametrize("damage", DAMAGE)
def test_template_cache_entries(fresh, reference, damage):
    entries = sorted(fresh.path(f"{CACHE}/templates").glob("*.jbc"))
    assert entries
    for entry in entries:
        DAMAGE[damage](entry)
    assert run(fresh, "forget", "codegen").returncode == 0
    result = run(fresh, "codegen")
    refused = warnings_about(result, "template cache entry refused (checksum mismatch)")
    assert refused and len({line.split(":")[1] for line in refused}) == len(refused)
    assert_recovered(fresh, reference, result)
    records = fresh.last_run()
    assert not any(r.counters.get("template_cache_hits") for r in records.values())
    # The refused entries were replaced by good ones.
    assert run(fresh, "forget", "codegen").returncode == 0
    again = run(fresh, "codegen")
    assert not warnings_about(again, "template cache")
    assert sum(r.counters.get("template_cache_hits", 0) for r in fresh.last_run().values())


@pytest.mark.parametrize("damage", DAMAGE)
def test_compile_manifest(fresh, reference, damage):
    manifest = fresh.path(f"{CACHE}/compile.manifest")
    DAMAGE[damage](manifest)
    result = run(fresh)
    assert len(warnings_about(result, "compile.manifest: ")) == 1, result.stderr
    assert "not used" in warnings_about(result, "compile.manifest: ")[0]
    assert_recovered(fresh, reference, result)
    assert read_state(manifest)["files"]


@pytest.mark.parametrize("damage", DAMAGE)
def test_codegen_batch_record(fresh, reference, damage):
    batch = fresh.batch_of("users")
    record = fresh.path(f"{CACHE}/batches/{batch.split(':', 1)[1]}.json")
    DAMAGE[damage](record)
    assert run(fresh, "forget", batch).returncode == 0
    result = run(fresh)
    assert len(warnings_about(result, f"batches/{record.name}: ")) == 1
    assert_recovered(fresh, reference, result)
    assert "users" in read_state(record)["patterns"]


def break_syntax(path: Path) -> None:
    path.write_bytes(b"\x00" + path.read_bytes()[1:])


@pytest.mark.parametrize("damage", [truncate, break_syntax])
def test_validated_pattern_index(fresh, reference, damage):
    """The index codegen reads its patterns from: reported, removed, rebuilt in
    the same run."""
    index = fresh.path(".conductor/state/patterns.json")
    damage(index)
    template = fresh.path("templates/sql/enum.sql.j2")
    template.write_text(template.read_text() + "{# re-render the enums #}\n")
    result = run(fresh)
    assert len(warnings_about(result, "patterns.json: ")) == 1
    assert_recovered(fresh, reference, result)
    assert read_state(index)["patterns"]


@pytest.mark.parametrize("name", [store.SUMMARY, store.TASKS, store.TRACE])
def test_metrics_files(fresh, reference, name):
    """A damaged run record never stops a build; the report names it in one line."""
    newest = store.list_runs(store.metrics_root(fresh.root))[-1]
    # Run records carry no checksum, so damage that keeps the JSON valid is not
    # detectable; damage the syntax (what a torn or scribbled write does).
    path = newest / name
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + b'}{"\x00][' + data[middle + 6:])
    result = run(fresh)
    assert_recovered(fresh, reference, result)
    assert store.load_run(store.list_runs(store.metrics_root(fresh.root))[-1]).summary.completed
    report = run(fresh, "profile-report", "--run", newest.name)
    text = report.stdout + report.stderr
    assert "Traceback" not in text, text
    if name != store.TRACE:  # the report does not read the trace
        assert report.returncode != 0 and newest.name in report.stderr, text
        assert len(report.stderr.strip().splitlines()) == 1, text
