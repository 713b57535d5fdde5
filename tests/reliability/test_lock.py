"""Concurrent runs: a second `doit` in the same repository waits for the run
lock or fails at once naming the holder; a lock left by a killed run is taken
over; the DB and output/ come out as after one clean build."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.reliability.conftest import (assert_one_line_error, kill_group, ran_records, run,
                                        set_conductor, spawn, wait_for)
from doit_conductor.config import LockSettings
from doit_conductor.incremental import lock
from tests.reliability.test_interrupt import SLOW_CHECK


@pytest.fixture
def slow(fresh):
    """A cold project whose build takes a few seconds (a slow quality check)."""
    shutil.rmtree(fresh.path("output"))
    shutil.rmtree(fresh.path(".conductor"))
    set_conductor(fresh, "checks", SLOW_CHECK)
    return fresh


def start_holder(project):
    process = spawn(project)
    wait_for(lambda: lock.read_holder(project.path(".conductor/lock")) is not None)
    return process


def finish(process) -> tuple[str, str]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    return out, err


def assert_consistent(project, reference) -> None:
    """output/ is the clean build's and the DB knows every task is done."""
    assert project.tree() == reference.tree()
    again = run(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.did_nothing(again), again.stdout
    assert not project.path(".conductor/doit.db.corrupt").exists()


def test_second_run_fails_at_once_naming_the_holder(slow, reference):
    holder = start_holder(slow)
    try:
        by_env = run(slow, CONDUCTOR_LOCK_WAIT="0")
        line = assert_one_line_error(by_env, "ERROR: .conductor/lock", f"pid {holder.pid} ")
        assert by_env.returncode == 3 and "not waiting" in line
        pyproject = slow.path("pyproject.toml")
        original = pyproject.read_text()
        set_conductor(slow, "lock", "wait = false")
        by_config = run(slow)
        pyproject.write_text(original)
        assert by_config.returncode == 3, by_config.stderr
        assert f"pid {holder.pid} " in by_config.stderr
        assert by_config.stdout == ""  # no task so much as looked at
    finally:
        finish(holder)
    assert_consistent(slow, reference)


def test_second_run_waits_for_the_first_then_finds_everything_done(slow, reference):
    holder = start_holder(slow)
    try:
        wait_for(lambda: ran_records(slow) >= 8)  # well into codegen
        second = spawn(slow)
        out, err = finish(second)
    finally:
        finish(holder)
    assert f"waiting for .conductor/lock, held by pid {holder.pid} " in err
    assert "Traceback" not in out + err
    # The second run loaded the DB after the first had saved it: nothing to redo.
    assert ".  codegen:" not in out, out
    assert_consistent(slow, reference)


def test_waiting_gives_up_after_the_timeout(fresh):
    with lock.RunLock(fresh.path(".conductor/lock"), LockSettings()):
        result = run(fresh, CONDUCTOR_LOCK_TIMEOUT="0.3")
    line = assert_one_line_error(result, "after 0.3s", f"pid {os.getpid()} ")
    assert result.returncode == 3 and line.startswith("ERROR: .conductor/lock:")


def test_list_and_info_do_not_need_the_lock(fresh):
    with lock.RunLock(fresh.path(".conductor/lock"), LockSettings()):
        for args in (("list", "--all"), ("info", "codegen:users")):
            result = run(fresh, *args, timeout=30, CONDUCTOR_LOCK_WAIT="0")
            assert result.returncode == 0, result.stdout + result.stderr
            assert "lock" not in result.stderr


def test_lock_of_a_killed_run_is_taken_over(slow, reference):
    holder = start_holder(slow)
    wait_for(lambda: ran_records(slow) >= 8)
    kill_group(holder, signal.SIGKILL)
    holder.communicate()
    result = run(slow, CONDUCTOR_LOCK_WAIT="0")
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and f"pid {holder.pid} " in notes[0] and "did not finish" in notes[0]
    assert_consistent(slow, reference)


# -- the lock itself, in process -------------------------------------------

def test_holder_record_and_clean_release(tmp_path):
    path = tmp_path / ".conductor" / "lock"
    with lock.RunLock(path, LockSettings(), command="doit codegen") as held:
        record = lock.read_holder(path)
        assert (record.pid, record.command) == (os.getpid(), "doit codegen")
        with pytest.raises(lock.LockBusy, match=f"pid {os.getpid()} on "):
            lock.RunLock(path, LockSettings(wait=False)).acquire()
        assert held is not None
    assert path.read_text() == ""
    # An exception ending the run keeps the record: the next run clears up.
    with pytest.raises(KeyboardInterrupt):
        with lock.RunLock(path, LockSettings()):
            raise KeyboardInterrupt
    assert lock.read_holder(path).pid == os.getpid()


def test_environment_overrides_the_config(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.conductor.lock]\nwait = false\ntimeout_s = 5\n")
    settings, output_dir = lock.effective_settings(tmp_path)
    assert settings == LockSettings(wait=False, timeout_s=5.0)
    assert output_dir is None   # no plan recorded: no output directory is ours
    monkeypatch.setenv(lock.ENV_WAIT, "1")
    monkeypatch.setenv(lock.ENV_TIMEOUT, "2.5")
    assert lock.effective_settings(tmp_path)[0] == LockSettings(wait=True, timeout_s=2.5)
    monkeypatch.setenv(lock.ENV_TIMEOUT, "soon")
    with pytest.raises(lock.UserError, match="CONDUCTOR_LOCK_TIMEOUT"):
        lock.effective_settings(tmp_path)


FORKING_HOLDER = """
import os, signal, sys
from doit_conductor.config import LockSettings
from doit_conductor.incremental import lock
held = lock.RunLock(sys.argv[1], LockSettings())
held.acquire()
ready, child_ready = os.pipe()
if os.fork() == 0:  # the child outlives the parent's hold, as an orphaned worker would
    os.write(child_ready, b"x")  # fork's after-in-child hooks have run
    signal.pause()
    os._exit(0)
os.read(ready, 1)
held.release()
print("released", flush=True)
signal.pause()
"""


@pytest.mark.slow   # starts an interpreter
def test_forked_children_do_not_keep_the_lock(tmp_path):
    # The fork happens in a child interpreter (its own process group), not in
    # pytest's process.
    path = tmp_path / "lock"
    holder = subprocess.Popen([sys.executable, "-c", FORKING_HOLDER, str(path)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline() == "released\n"
        lock.RunLock(path, LockSettings(wait=False)).acquire()  # free although the child lives
    finally:
        kill_group(holder, signal.SIGKILL)
        holder.communicate()
