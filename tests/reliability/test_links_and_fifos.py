"""Issue 25: nothing is opened, listed, deleted, truncated or chmod-ed through a
link in the project's trees, and a FIFO or directory where a file belongs is
refused or repaired, never read or followed.  Each test is a case that did the
wrong thing before `doit_conductor/safe_fs.py`; `outside` is a directory the
project must never change."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import assert_one_line_error, run, set_conductor
from tests.support.doit import child_env, doit_command, own_process_group

OLD = time.time() - 400 * 86400   # older than any age bound


def tree_state(root: Path) -> dict[str, tuple]:
    """Everything below `root` as it is: type, mode, content (links not followed)."""
    state = {}
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(directory) / name
            info = path.lstat()
            content = hashlib.sha256(path.read_bytes()).hexdigest() \
                if stat.S_ISREG(info.st_mode) else None
            state[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode),
                                                  stat.S_IMODE(info.st_mode), content)
    return state


@pytest.fixture
def outside(tmp_path) -> Path:
    """Someone else's directory, with old files in it."""
    directory = tmp_path / "outside"
    (directory / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.jbc", ".x.tmp", "sub/c.txt"):
        (directory / name).write_text(f"someone else's {name}\n")
        os.utime(directory / name, (OLD, OLD))
    directory.chmod(0o755)
    return directory


def plant_link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target, target_is_directory=target.is_dir())


def edit_a_pattern(project) -> None:
    pattern = project.path("patterns/currency.yaml")
    pattern.write_text(pattern.read_text().replace("CHF]", "CHF, JPY]"))


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_scratch_directory_link_is_not_emptied(fresh, outside):
    before = tree_state(outside)
    plant_link(fresh.path(".conductor/tmp"), outside)
    result = run(fresh)
    assert_one_line_error(result, ".conductor/tmp", "symbolic link")
    assert tree_state(outside) == before


@pytest.mark.parametrize("where", ["default", "--cache"])
def test_cache_gc_does_not_delete_through_a_shard_link(fresh, outside, tmp_path, where):
    store = fresh.path(".conductor/cache/actions") if where == "default" else tmp_path / "store"
    (store / "cd").mkdir(parents=True)
    (store / "cd" / "cd01").write_bytes(b"an old entry")
    os.utime(store / "cd" / "cd01", (OLD, OLD))
    plant_link(store / "ab", outside)
    before = tree_state(outside)
    args = ["cache-gc", "--actions-max-age-days", "1"]
    if where == "--cache":
        args += ["--cache", str(store)]
    result = run(fresh, *args)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert tree_state(outside) == before
    assert not (store / "cd" / "cd01").exists()   # the store itself is still collected
    assert "removed 1" in result.stdout


def test_cache_gc_leaves_a_stray_directory_in_a_store(fresh, tmp_path):
    store = tmp_path / "store"
    (store / "ab" / "not-an-entry").mkdir(parents=True)
    (store / "ab" / "not-an-entry" / "file").write_text("kept")
    os.utime(store / "ab" / "not-an-entry", (OLD, OLD))
    fifo = store / "ab" / "ab02"
    os.mkfifo(fifo)
    result = run(fresh, "cache-gc", "--cache", str(store), "--actions-max-age-days", "1",
                 timeout=60)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert (store / "ab" / "not-an-entry" / "file").read_text() == "kept"


def test_clean_does_not_delete_through_an_output_link(fresh, outside, tmp_path):
    real = fresh.path("output")
    real.rename(tmp_path / "kept-output")
    # the linked directory looks like an output tree: clean must not empty it
    (outside / "sql").mkdir()
    (outside / "sql" / "users.sql").write_text("someone else's users.sql\n")
    (outside / "SHA256SUMS").write_text("someone else's sums\n")
    plant_link(real, outside)
    before = tree_state(outside)
    state = tree_state(fresh.path(".conductor/state"))
    result = run(fresh, "clean")
    assert tree_state(outside) == before
    # refused before any task's clean action: one line, exit 3, nothing removed
    assert_one_line_error(result, "output: is a symbolic link")
    assert result.returncode == 3 and tree_state(fresh.path(".conductor/state")) == state


@pytest.mark.parametrize("lock_file", [".conductor/lock",
                                       ".conductor/cache/.compile.manifest.lock"])
def test_a_lock_file_link_is_refused_not_truncated(fresh, outside, lock_file):
    victim = outside / "a.txt"
    plant_link(fresh.path(lock_file), victim)
    edit_a_pattern(fresh)   # codegen runs, and merges the manifest under its lock
    before = tree_state(outside)
    result = run(fresh)
    assert_one_line_error(result, lock_file, "symbolic link")
    assert tree_state(outside) == before
    assert victim.read_text() == "someone else's a.txt\n"


@pytest.mark.parametrize("lock_file", [".conductor/lock",
                                       ".conductor/cache/.compile.manifest.lock"])
def test_a_lock_file_hard_link_is_refused_not_truncated(fresh, outside, lock_file):
    """O_NOFOLLOW stops a symbolic link, not a hard link to a file elsewhere
    (by anyone who can write the checkout): the run lock used to empty it."""
    victim = outside / "a.txt"
    fresh.path(lock_file).unlink(missing_ok=True)
    os.link(victim, fresh.path(lock_file))
    edit_a_pattern(fresh)
    result = run(fresh)
    assert_one_line_error(result, lock_file, "other hard link")
    assert victim.read_text() == "someone else's a.txt\n"


@pytest.mark.parametrize("where", [".conductor/metrics", ".conductor/metrics/runs"])
def test_run_records_are_not_written_through_a_metrics_link(fresh, outside, where):
    plant_link(fresh.path(where), outside)
    before = tree_state(outside)
    edit_a_pattern(fresh)
    result = run(fresh)
    assert tree_state(outside) == before
    no_traceback(result)
    assert f"{where}: is a symbolic link" in result.stderr


def test_template_cache_link_is_refused_before_any_chmod(fresh, outside):
    outside.chmod(0o775)
    plant_link(fresh.path(".conductor/cache/templates"), outside)
    before = tree_state(outside)
    edit_a_pattern(fresh)
    result = run(fresh)
    assert_one_line_error(result, ".conductor/cache/templates", "symbolic link")
    assert stat.S_IMODE(outside.stat().st_mode) == 0o775
    gc = run(fresh, "cache-gc", "--max-entries", "0")
    no_traceback(gc)
    assert gc.returncode != 0
    assert tree_state(outside) == before


def sums_listed(project) -> list[str]:
    return [line.split("  ", 1)[1] for line in
            project.path("output/SHA256SUMS").read_text().splitlines()]


def test_a_link_at_a_generated_path_is_repaired(fresh, reference, outside):
    plant_link(fresh.path("output/sql/users.sql"), outside / "a.txt")
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not fresh.path("output/sql/users.sql").is_symlink()
    assert fresh.tree() == reference.tree()
    assert all(fresh.path(f"output/{p}").is_file() for p in sums_listed(fresh))
    assert (outside / "a.txt").read_text() == "someone else's a.txt\n"
    assert "output/sql/users.sql was a symbolic link" in result.stderr


def test_a_directory_at_a_generated_path_is_set_aside(fresh, reference):
    users = fresh.path("output/sql/users.sql")
    users.unlink()
    users.mkdir()
    (users / "mine").write_text("kept\n")
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fresh.tree() == reference.tree()
    assert all(fresh.path(f"output/{p}").is_file() for p in sums_listed(fresh))
    kept = list(fresh.path(".conductor/hand-edits/output/sql").glob("users.sql.*/mine"))
    assert [p.read_text() for p in kept] == ["kept\n"]
    assert "output/sql/users.sql was a directory" in result.stderr


@pytest.mark.parametrize("what", ["fifo", "link"])
@pytest.mark.parametrize("where", ["output/api.json", "output/SHA256SUMS", "output/docs/index.md"])
def test_a_link_or_fifo_at_a_published_file_is_replaced(fresh, reference, outside, where, what):
    """The files of tasks 14-22, as those of codegen: replaced as themselves,
    never read or followed (they used to fail every run in one line until
    removed by hand)."""
    path = fresh.path(where)
    path.unlink()
    if what == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(outside / "a.txt")
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.is_file() and not path.is_symlink()
    assert fresh.tree() == reference.tree()
    assert (outside / "a.txt").read_text() == "someone else's a.txt\n"


def test_a_checksums_directory_is_set_aside(fresh, reference):
    sums = fresh.path("output/SHA256SUMS")
    sums.unlink()
    sums.mkdir()
    (sums / "mine").write_text("kept\n")
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fresh.tree() == reference.tree()
    kept = list(fresh.path(".conductor/hand-edits/output").glob("SHA256SUMS.*/mine"))
    assert [p.read_text() for p in kept] == ["kept\n"]


def test_a_fifo_at_a_generated_path_does_not_hang(fresh, reference):
    users = fresh.path("output/sql/users.sql")
    users.unlink()
    os.mkfifo(users)
    process = subprocess.Popen(doit_command(), cwd=fresh.root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=child_env(),
                               preexec_fn=own_process_group)
    try:
        out, err = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        raise AssertionError("doit hung on a FIFO at a generated path")
    assert process.returncode == 0, out + err
    assert "output/sql/users.sql was a FIFO" in err
    assert fresh.tree() == reference.tree()


@pytest.mark.parametrize("target", ["outside", "/dev/zero"])
def test_a_pattern_file_link_is_refused(fresh, tmp_path, target):
    if target == "outside":
        secret = tmp_path / "secret.yaml"
        secret.write_bytes(fresh.path("patterns/currency.yaml").read_bytes()
                           .replace(b"description:", b"description: SECRET"))
        target = str(secret)
    plant_link(fresh.path("patterns/currency.yaml"), Path(target))
    result = run(fresh, timeout=120)
    assert_one_line_error(result, "patterns/currency.yaml", "symbolic link")
    assert "SECRET" not in fresh.path("output/docs/currency.md").read_text()


def test_validator_scratch_stays_under_conductor_tmp(fresh, tmp_path):
    log = tmp_path / "scratch.log"
    set_conductor(fresh, "checks", f"\".py\" = \"sh -c 'dirname \\\"$1\\\" >> \\\"$0\\\"' {log} {{file}}\"\n")
    edit_a_pattern(fresh)
    result = run(fresh, "codegen")
    assert result.returncode == 0, result.stdout + result.stderr
    used = set(log.read_text().split())
    assert used, "the check never ran"
    tmp = str(fresh.path(".conductor/tmp"))
    assert all(d.startswith(tmp + os.sep) for d in used), used
    assert list(fresh.path(".conductor/tmp").iterdir()) == []


@pytest.mark.parametrize("command", [("list",), ("info", "check-env")])
def test_a_linked_state_directory_is_not_renamed_into_by_commands_without_the_lock(
        fresh, outside, command):
    # doit's `list` and `info` open the DB without the run lock, which refuses
    # the link: the unreadable DB behind it used to be renamed over a file there
    (outside / "doit.db").write_text("someone else's db\n")
    (outside / "doit.db.corrupt").write_text("someone else's other file\n")
    state = fresh.path(".conductor")
    state.rename(fresh.root / "kept-conductor")
    plant_link(state, outside)
    before = tree_state(outside)
    result = run(fresh, *command)
    no_traceback(result)
    assert tree_state(outside) == before
    assert ".conductor/doit.db: unreadable dependency DB" in result.stderr


def test_clean_reports_a_linked_output_subdirectory_and_removes_the_rest(fresh, outside):
    sql = fresh.path("output/sql")
    shutil.rmtree(sql)
    (outside / "users.sql").write_text("someone else's users.sql\n")
    plant_link(sql, outside)
    before = tree_state(outside)
    result = run(fresh, "clean")
    assert tree_state(outside) == before
    no_traceback(result)
    # doit's clean cannot fail the command: each task that writes there says so
    assert "output/sql: is a symbolic link" in result.stderr, result.stderr
    left = [p for p in fresh.path("output").rglob("*") if p.is_file() and "sql" not in p.parts]
    assert left == [], left


@pytest.mark.parametrize("what", ["file", "link to a file"])
def test_a_stray_file_at_the_snapshot_directory_is_replaced(fresh, outside, what):
    noop = fresh.path(".conductor/noop")
    shutil.rmtree(noop)
    if what == "file":
        noop.write_text("not a directory\n")
    else:
        plant_link(noop, outside / "a.txt")
    before = tree_state(outside)
    edit_a_pattern(fresh)
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    no_traceback(result)
    assert tree_state(outside) == before
    assert run(fresh).stdout.startswith("up to date: ")   # the snapshot was recorded


def plant(path: Path, what: str, outside: Path) -> None:
    path.unlink()
    if what == "fifo":
        os.mkfifo(path)
    elif what == "directory":
        path.mkdir()
        (path / "mine").write_text("x\n")
    else:
        path.symlink_to(outside / "a.txt")


@pytest.mark.parametrize("what", ["link", "fifo", "directory"])
@pytest.mark.parametrize("where", [".conductor/cache/batches/{batch}.json",
                                   ".conductor/state/docs-links.json",
                                   ".conductor/reports/changes.json"])
def test_no_file_at_a_workflow_file_is_removed_and_the_file_rebuilt(fresh, reference, outside,
                                                                     where, what):
    """Its producer was judged up to date (doit's target check follows a link):
    a batch record so planted pruned the batch's files, a state or report file
    failed every run.  Removed by name before any task is judged."""
    before = tree_state(outside)
    path = fresh.path(where.format(batch=fresh.batch_of("currency").split(":", 1)[1]))
    plant(path, what, outside)
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"WARNING: {path.relative_to(fresh.root)}: a " in result.stderr
    assert path.is_file() and not path.is_symlink()
    assert fresh.tree() == reference.tree()
    assert tree_state(outside) == before
    assert fresh.doit().stdout.startswith("up to date: ")


@pytest.mark.parametrize("folder", [".conductor/state", ".conductor/cache"])
def test_a_file_where_a_workflow_folder_belongs_is_one_line(fresh, folder):
    shutil.rmtree(fresh.path(folder))
    fresh.path(folder).write_text("junk\n")
    result = run(fresh)
    assert result.returncode != 0
    assert_one_line_error(result, folder)
    assert "interrupted" not in result.stdout + result.stderr   # a task failed, naming it
    assert fresh.path(folder).read_text() == "junk\n"
