"""The xxhash checker and the conductor backend, on their own."""
from __future__ import annotations

import os

import pytest

from doit_conductor.glue import checker
from doit_conductor.glue.backend import ConductorDB


@pytest.fixture
def digests() -> checker.DigestTable:
    """A table of the test's own, not the process's."""
    return checker.DigestTable()


def test_touched_identical_file_is_hashed_once(tmp_path, monkeypatch, digests):
    path = tmp_path / "f.txt"
    path.write_text("same")
    check = checker.XXHashChecker(digests)
    state = check.get_state(str(path), None)
    calls = []
    real = checker.file_digest
    monkeypatch.setattr(checker, "file_digest", lambda p: calls.append(p) or real(p))
    os.utime(path, ns=(1, 10**18))
    for _ in range(3):
        assert not check.check_modified(str(path), os.stat(path), state)
    assert len(calls) == 1


def test_changed_content_same_size_and_new_size(tmp_path, digests):
    path = tmp_path / "f.txt"
    path.write_text("aaaa")
    check = checker.XXHashChecker(digests)
    state = check.get_state(str(path), None)
    path.write_text("bbbb")
    os.utime(path, ns=(1, 10**18))
    assert check.check_modified(str(path), os.stat(path), state)
    path.write_text("bbbbb")
    assert check.check_modified(str(path), os.stat(path), state)


@pytest.mark.parametrize("edit", ["bbbb", "bbbbbbbb"], ids=["same size", "new size"])
def test_an_edit_with_its_mtime_put_back_is_seen(tmp_path, digests, edit):
    """`touch -r`, `rsync -t` and tar restore an mtime after changing a file;
    the ctime moves anyway, and that is not trusted."""
    path = tmp_path / "f.txt"
    path.write_text("aaaa")
    check = checker.XXHashChecker(digests)
    state = check.get_state(str(path), None)
    before = path.stat()
    path.write_text(edit)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime == state[0]
    assert check.check_modified(str(path), os.stat(path), state)
    # and the digest table does not answer for the new content with the old digest
    assert digests.digest(str(path), os.stat(path)) == checker.file_digest(str(path))
    new_state = check.get_state(str(path), state)
    assert new_state is not None and new_state[2] != state[2]
    assert not check.check_modified(str(path), os.stat(path), new_state)


def test_a_state_or_digest_saved_without_ctime_is_verified_by_content(tmp_path, digests):
    path = tmp_path / "f.txt"
    path.write_text("aaaa")
    stat = path.stat()
    old_state = (stat.st_mtime, stat.st_size, checker.file_digest(str(path)))
    digests.entries[str(path)] = old_state  # as an older version saved it
    path.write_text("bbbb")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    check = checker.XXHashChecker(digests)
    assert check.check_modified(str(path), os.stat(path), old_state)


def test_a_target_exists_exactly_when_os_path_exists_says_so(tmp_path, digests):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "file")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    check = checker.XXHashChecker(digests)
    for name in ("file", "dir", "link", "dangling", "missing", "file/below", "nul\0byte"):
        path = str(tmp_path / name)
        assert check.exists(path) == os.path.exists(path), name


def test_backend_round_trip_and_digest_table(tmp_path, digests):
    name = str(tmp_path / "doit.db")
    db = ConductorDB(name, digests=digests)
    db.set("t", "deps:", ["a"])
    digests.entries["a"] = (1.0, 2, "ff")
    digests.dirty = True
    db.dump()
    assert not digests.dirty
    loaded = checker.DigestTable()
    again = ConductorDB(name, digests=loaded)
    assert again.get("t", "deps:") == ["a"] and again.in_("t")
    assert loaded.entries["a"] == (1.0, 2, "ff")


def test_unchanged_db_is_not_rewritten(tmp_path, digests):
    name = tmp_path / "doit.db"
    db = ConductorDB(str(name), digests=digests)
    db.set("t", "x", 1)
    db.dump()
    os.utime(name, ns=(1, 1))
    ConductorDB(str(name), digests=digests).dump()
    assert name.stat().st_mtime_ns == 1


def flip_last_payload_byte(raw: bytes) -> bytes:
    return raw[:-2] + bytes([raw[-2] ^ 0xFF]) + raw[-1:]


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], flip_last_payload_byte,
                                    lambda b: b"garbage", lambda b: b""])
def test_corrupt_db_is_quarantined_not_used(tmp_path, capsys, damage, digests):
    name = tmp_path / "doit.db"
    db = ConductorDB(str(name), digests=digests)
    db.set("t", "x", 1)
    db.dump()
    name.write_bytes(damage(name.read_bytes()))
    fresh = ConductorDB(str(name), digests=digests)
    assert not fresh.in_("t")
    assert (tmp_path / "doit.db.corrupt").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unreadable dependency DB" in err and "every task will re-run" in err


def test_a_db_of_the_previous_format_is_set_aside_with_its_reason(tmp_path, capsys, digests):
    name = tmp_path / "doit.db"
    name.write_bytes(b"conductor-db 1 0123\n{}")
    assert not ConductorDB(str(name), digests=digests).in_("t")
    assert "written by an older doit-conductor" in capsys.readouterr().err


def test_tasks_reading_one_file_save_one_state_with_the_digest_table(tmp_path, digests):
    """The state doit saves for a file_dep is the table's own entry, so the DB
    holds it once however many tasks read the file (marshal keeps the sharing)."""
    path = str(tmp_path / "f.txt")
    (tmp_path / "f.txt").write_text("x")
    check = checker.XXHashChecker(digests)
    name = str(tmp_path / "doit.db")
    db = ConductorDB(name, digests=digests)
    for task in ("a", "b", "c"):
        db.set(task, path, check.get_state(path, None))
    db.dump()
    single = os.path.getsize(name)
    loaded = ConductorDB(name, digests=checker.DigestTable())
    assert loaded.get("a", path) is loaded.get("c", path) is loaded.digests.entries[path]
    # the same states, unshared, take more room
    for task in ("a", "b", "c"):
        db.set(task, path, tuple(list(db.get(task, path))))
    db.dump()
    assert os.path.getsize(name) > single


@pytest.mark.slow   # runs doit
def test_a_run_saves_what_its_checker_hashed(tmp_path):
    """The checker and the backend doit creates separately share one table
    in a run (checker.share_digests): a file touched without a change is
    hashed by the checker, and the version it hashed is saved with the DB, so
    the next run answers it from the table."""
    from tests.support.doit import run_doit
    (tmp_path / "in.txt").write_text("same")
    (tmp_path / "dodo.py").write_text(
        "from doit_conductor.glue.checker import XXHashChecker\n"
        "DOIT_CONFIG = {'backend': 'conductor', 'dep_file': 'state/doit.db',\n"
        "               'check_file_uptodate': XXHashChecker}\n"
        "def task_copy():\n"
        "    return {'actions': ['cp in.txt out.txt'], 'file_dep': ['in.txt'],\n"
        "            'targets': ['out.txt']}\n")
    (tmp_path / "state").mkdir()
    assert run_doit(tmp_path).returncode == 0
    later = os.stat(tmp_path / "in.txt").st_mtime + 10
    os.utime(tmp_path / "in.txt", (later, later))
    again = run_doit(tmp_path, check=True)
    assert "-- copy" in again.stdout    # touched, not changed: up to date
    saved = ConductorDB(str(tmp_path / "state" / "doit.db")).digests.entries
    assert saved[str("in.txt")][0] == later


def test_the_recordings_ask_judges_file_deps_and_targets_by_the_swept_stats(
        tmp_path, monkeypatch, digests):
    """While the fast no-op's recording judges a run, a swept path is neither
    stat-ed nor checked for existence again: the verdict is about the stats
    the snapshot records (a change after the sweep is the next run's to see)."""
    import time

    from doit_conductor.incremental import snapshot
    monkeypatch.chdir(tmp_path)
    for name in ("dep.txt", "target.txt"):
        (tmp_path / name).write_text(name)
    check = checker.XXHashChecker(digests)
    state = check.get_state("dep.txt", None)
    taken = snapshot.take(("key",), ["dep.txt", "target.txt", "gone.txt"], 1, time.time_ns())
    saved_mtime = os.stat("dep.txt").st_mtime

    def refused(*args, **kwargs):
        raise AssertionError("asked the file system again")
    with monkeypatch.context() as patched, snapshot.judging(taken):
        patched.setattr(checker.os, "stat", refused)
        patched.setattr(checker.os, "access", refused)
        assert check.exists("target.txt") and not check.exists("gone.txt")
        swept = check.info("dep.txt")
        assert swept.st_mtime == saved_mtime == state[0]   # as doit saved it
        assert not check.check_modified("dep.txt", swept, state)
        with pytest.raises(FileNotFoundError):
            check.info("gone.txt")
    # the swept stats stand even if the file changes after the sweep
    (tmp_path / "dep.txt").write_text("changed after the sweep")
    os.unlink("target.txt")
    with snapshot.judging(taken):
        assert check.exists("target.txt")
        assert not check.check_modified("dep.txt", check.info("dep.txt"), state)
    # outside the recording, the file system answers
    assert not check.exists("target.txt")
    assert check.check_modified("dep.txt", check.info("dep.txt"), state)
    assert check.exists("dep.txt") and not check.exists("elsewhere.txt")
