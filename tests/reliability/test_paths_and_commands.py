"""Paths are checked where they are written (a symbolic link for output/ or
.conductor/ is one clear error, a template linked out of templates/ is not
read), and every command that writes state takes the run lock."""
from __future__ import annotations

import os
import shutil

import pytest

from doit_conductor.config import LockSettings
from doit_conductor.incremental import lock
from tests.reliability.conftest import assert_one_line_error, run, stray_temps


def assert_clean_build_after(project, reference) -> None:
    again = run(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "did not finish" not in again.stdout + again.stderr
    assert project.tree() == reference.tree()
    assert stray_temps(project.root) == []


@pytest.mark.parametrize("directory", ["output", ".conductor", ".conductor/state"])
def test_symlinked_project_directory_is_refused(fresh, reference, tmp_path, directory):
    """A committed `output` symlink (git tracks it despite .gitignore) or a planted
    link under .conductor/ must not aim our writes elsewhere."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index.md").write_text("someone else's file\n")
    real = fresh.path(directory)
    kept = tmp_path / "kept"
    shutil.move(real, kept)
    real.symlink_to(outside, target_is_directory=True)
    pattern = fresh.path("patterns/currency.yaml")
    pattern.write_text(pattern.read_text().replace("CHF]", "CHF, JPY]"))
    result = run(fresh)
    assert_one_line_error(result, f"{directory}: is a symbolic link; refusing to write through it")
    assert sorted(p.name for p in outside.iterdir()) == ["index.md"]
    assert (outside / "index.md").read_text() == "someone else's file\n"
    real.unlink()
    shutil.move(kept, real)
    pattern.write_text(pattern.read_text().replace("CHF, JPY]", "CHF]"))
    assert_clean_build_after(fresh, reference)


def test_template_linked_out_of_templates_is_not_read(fresh, reference, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("-- the secret {{ pattern.name }}\n")
    template = fresh.path("templates/sql/enum.sql.j2")
    saved = template.read_bytes()
    template.unlink()
    template.symlink_to(secret)
    result = run(fresh)
    assert_one_line_error(result, "templates/sql/enum.sql.j2:",
                          "resolves outside the templates directory")
    assert not any(b"the secret" in path.read_bytes()
                   for path in fresh.path("output").rglob("*") if path.is_file())
    template.unlink()
    template.write_bytes(saved)
    assert_clean_build_after(fresh, reference)


@pytest.mark.parametrize("command", [("forget", "codegen:users"), ("forget", "--all"),
                                     ("clean", "docs"), ("ignore", "docs"),
                                     ("reset-dep",), ("cache-gc",)])
def test_state_writing_commands_take_the_lock(fresh, reference, command):
    """`forget --all` during a run used to print success and be lost; `clean`
    emptied output/ under the run.  Now they wait for the lock, or, not
    waiting, fail at once naming the holder and change nothing."""
    db = fresh.path(".conductor/doit.db").read_bytes()
    held = lock.RunLock(fresh.path(".conductor/lock"), LockSettings(wait=False, timeout_s=0),
                        command="doit (the test holds it)", announce=lambda _: None)
    held.acquire()
    try:
        result = run(fresh, *command, CONDUCTOR_LOCK_WAIT="0")
    finally:
        held.release()
    line = assert_one_line_error(result, "ERROR: .conductor/lock", f"pid {os.getpid()} ")
    assert "not waiting" in line and result.returncode == 3
    assert fresh.path(".conductor/doit.db").read_bytes() == db
    assert fresh.tree() == reference.tree()
    # With the lock free the same command runs, and leaves no holder behind.
    assert run(fresh, *command).returncode == 0
    assert lock.read_holder(fresh.path(".conductor/lock")) is None
    assert_clean_build_after(fresh, reference)


def test_list_and_info_still_need_no_lock(fresh):
    held = lock.RunLock(fresh.path(".conductor/lock"), LockSettings(wait=False, timeout_s=0),
                        announce=lambda _: None)
    held.acquire()
    try:
        assert run(fresh, "list", CONDUCTOR_LOCK_WAIT="0").returncode == 0
        assert run(fresh, "info", "docs", CONDUCTOR_LOCK_WAIT="0").returncode == 0
    finally:
        held.release()


@pytest.mark.parametrize("args", [("-n", "3", "codgen"), ("--no-such-option",),
                                  ("forget",)])
def test_a_run_that_ended_is_not_reported_as_killed(fresh, reference, args):
    """A usage error ends the run: the next `doit` must not claim it was killed."""
    result = run(fresh, *args)
    assert "Traceback" not in result.stdout + result.stderr
    assert lock.read_holder(fresh.path(".conductor/lock")) is None
    assert_clean_build_after(fresh, reference)


def test_a_killed_run_is_still_reported(fresh, reference):
    """The control: a holder record left behind (what SIGKILL leaves) is noticed."""
    held = lock.RunLock(fresh.path(".conductor/lock"), LockSettings(wait=False, timeout_s=0),
                        command="doit (killed)", announce=lambda _: None)
    held.acquire()
    os.close(held._fd)  # the flock goes with the descriptor, the record stays
    lock._HELD.discard(held._fd)
    result = run(fresh)
    assert "did not finish (killed or interrupted)" in result.stderr, result.stderr
    assert_clean_build_after(fresh, reference)
