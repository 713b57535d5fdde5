"""Paths are checked where they are written (a symbolic link for output/ or
.conductor/ is one clear error, a template linked out of templates/ is not
read), and every command that writes state takes the run lock."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

import pytest

from doit_conductor.config import LockSettings
from doit_conductor.incremental import lock
from tests.reliability.conftest import assert_one_line_error, run, stray_temps


def assert_clean_build_after(project, reference, *, after_a_kill: bool = False) -> None:
    again = run(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ("did not finish" in again.stderr) == after_a_kill, again.stderr
    assert project.tree() == reference.tree()
    assert stray_temps(project.root) == []


@pytest.mark.parametrize("directory", ["output", ".conductor",
                                       pytest.param(".conductor/state", marks=pytest.mark.stress)])
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
    assert_one_line_error(result, f"{directory}: is a symbolic link; refusing to follow it")
    assert sorted(p.name for p in outside.iterdir()) == ["index.md"]
    assert (outside / "index.md").read_text() == "someone else's file\n"
    real.unlink()
    shutil.move(kept, real)
    pattern.write_text(pattern.read_text().replace("CHF, JPY]", "CHF]"))
    assert_clean_build_after(fresh, reference)


@pytest.mark.parametrize("target", ["outside", "inside", "same content"])
def test_template_linked_out_of_templates_is_not_read(fresh, reference, tmp_path, target):
    """Refused before it is opened (a link to a FIFO or a 1 GB file used to be
    read first), whether it leads out of templates/ or to another template; and
    to a copy of the template it replaced, which the up-to-date check used to
    read through the link and call unchanged."""
    template = fresh.path("templates/sql/enum.sql.j2")
    saved = template.read_bytes()
    secret = tmp_path / "secret" if target != "inside" else fresh.path("templates/secret.txt")
    secret.write_bytes(saved if target == "same content" else
                       b"-- the secret {{ pattern.name }}\n")
    template.unlink()
    template.symlink_to(secret)
    result = run(fresh)
    assert_one_line_error(result, "templates/sql/enum.sql.j2:",
                          "template is a symbolic link, not a regular file")
    if target == "inside":
        secret.unlink()
    assert not any(b"the secret" in path.read_bytes()
                   for path in fresh.path("output").rglob("*") if path.is_file())
    template.unlink()
    template.write_bytes(saved)
    assert_clean_build_after(fresh, reference)


# The two the attack run caught in the default suite; the rest under --stress.
@pytest.mark.parametrize("command", [("forget", "--all"), ("clean", "docs"),
                                     pytest.param(("forget", "codegen:users"), marks=pytest.mark.stress),
                                     pytest.param(("ignore", "docs"), marks=pytest.mark.stress),
                                     pytest.param(("reset-dep",), marks=pytest.mark.stress),
                                     pytest.param(("cache-gc",), marks=pytest.mark.stress)])
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


@pytest.mark.parametrize("args", [("-n", "3", "codgen"), pytest.param(("--no-such-option",), marks=pytest.mark.stress),
                                  pytest.param(("forget",), marks=pytest.mark.stress)])
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
    assert_clean_build_after(fresh, reference, after_a_kill=True)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_die_with_a_killed_main_process(fresh, reference):
    """kill -9 of the main doit (not its group) used to leave its -n workers
    running; the next run then recovers the clean build."""
    from tests.reliability.conftest import set_conductor, spawn, wait_for
    from tests.reliability.test_interrupt import SLOW_CHECK
    shutil.rmtree(fresh.path("output"))
    shutil.rmtree(fresh.path(".conductor"))
    set_conductor(fresh, "checks", SLOW_CHECK)
    process = spawn(fresh, "-n", "2", "codegen")
    try:
        wait_for(lambda: len(_children(process.pid)) >= 2, timeout=60)
        workers = _children(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
        wait_for(lambda: not any(_alive(w) for w in workers), timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever a failure left running
    pyproject = fresh.path("pyproject.toml")
    pyproject.write_bytes(reference.path("pyproject.toml").read_bytes())
    assert_clean_build_after(fresh, reference, after_a_kill=True)


def test_scratch_directories_of_a_killed_run_are_removed(fresh, reference):
    scratch = fresh.path(".conductor/tmp/reproduce-abandoned")
    scratch.mkdir(parents=True)
    (scratch / "leftover.py").write_text("x = 1\n")
    fragment_tmp = fresh.path(".conductor/cache/batches/.users.json.1234-0.tmp")
    fragment_tmp.write_text("{")
    held = lock.RunLock(fresh.path(".conductor/lock"), LockSettings(wait=False, timeout_s=0),
                        command="doit (killed)", announce=lambda _: None)
    held.acquire()
    os.close(held._fd)  # as after SIGKILL: the record stays, the flock is gone
    lock._HELD.discard(held._fd)
    assert_clean_build_after(fresh, reference, after_a_kill=True)
    assert not scratch.exists() and not list(fresh.path(".conductor/tmp").iterdir())
    assert not fragment_tmp.exists()


def test_a_linked_template_directory_is_named(fresh, reference):
    """A link at `templates/_partials` is not listed (never entered): the
    templates that include from it used to be told it "does not exist"."""
    partials = fresh.path("templates/_partials")
    real = fresh.path("templates/_partials.real")
    partials.rename(real)
    partials.symlink_to("_partials.real", target_is_directory=True)
    result = run(fresh)
    assert_one_line_error(result, "templates/_partials: template is a symbolic link")
    partials.unlink()
    real.rename(partials)
    assert_clean_build_after(fresh, reference)
