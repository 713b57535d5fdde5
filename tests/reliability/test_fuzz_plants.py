"""Property test of the file-system trust boundary (issue 25).

Plant a link (to a sentinel directory or file outside the project), a FIFO or a
directory at a random path under the project's trees (`output/`, `.conductor/`,
`patterns/`, `templates/`, a local action cache), run a random command, and
check what must hold whatever was planted:

* nothing outside the project changes (the sentinel tree, types, modes and bytes);
* no traceback;
* no hang (the command is killed, and the example fails, after `TIMEOUT_S`);
* once the plant is removed (and what it replaced put back), one `doit` gives
  the reference output, byte for byte.

The default run tries a few examples with a fixed seed (well under a minute);
`pytest --stress` tries many more.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.doit import child_env, doit_command, own_process_group
from tests.support.projects import Project

TIMEOUT_S = 60
TREES = ("output", ".conductor", "patterns", "templates")
# names that do not exist in a built project but that the code creates, lists or locks
EXTRA = (".conductor/tmp/leftover", ".conductor/cache/actions", ".conductor/cache/actions/ab",
         ".conductor/cache/.compile.manifest.lock", ".conductor/metrics/runs/.stale.tmp",
         ".conductor/hand-edits", "output/sql/new.sql", "patterns/zz.yaml")
COMMANDS = ((), ("-n", "2"), ("clean",), ("cache-gc", "--max-entries", "0",
                                          "--actions-max-age-days", "1"), ("forget", "--all"))
PLANTS = ("link-to-directory", "link-to-file", "fifo", "directory")
OLD = time.time() - 400 * 86400


def candidates(root: Path) -> list[str]:
    """Every path under the trees of a built project, the trees themselves, and
    a few that appear only while it runs."""
    found = set(EXTRA)
    for tree in TREES:
        found.add(tree)
        for directory, dirs, files in os.walk(root / tree):
            for name in dirs + files:
                found.add(str((Path(directory) / name).relative_to(root)))
    return sorted(found)


def sentinel(base: Path) -> Path:
    """Someone else's files, old enough for any age bound, looking like ours."""
    outside = base / "sentinel"
    for name in ("victim.txt", "a.jbc", ".x.tmp", "users.sql", "ab/abcdef", "sub/deep.txt"):
        path = outside / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"not yours: {name}\n")
        os.utime(path, (OLD, OLD))
    return outside


def tree_hash(root: Path) -> str:
    """Types, modes and bytes of everything below and including `root` (links unfollowed)."""
    digest = hashlib.sha256()
    for directory, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in ["."] + sorted(dirs + files):
            path = Path(directory) / name
            info = path.lstat()
            digest.update(f"{path.relative_to(root)}\0{info.st_mode:o}\0".encode())
            if stat.S_ISREG(info.st_mode):
                digest.update(path.read_bytes())
    return digest.hexdigest()


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`doit args` in `root`; its whole process group killed (and the example
    failed) if it takes longer than TIMEOUT_S."""
    process = subprocess.Popen(doit_command(*args), cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=child_env(),
                               preexec_fn=own_process_group)
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"doit {' '.join(args)} hung (killed after {TIMEOUT_S}s)")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def plant(path: Path, kind: str, outside: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "link-to-directory":
        path.symlink_to(outside, target_is_directory=True)
    elif kind == "link-to-file":
        path.symlink_to(outside / "victim.txt")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
        (path / "planted.txt").write_text("planted\n")


def check_one(reference: Project, work: Path, where: str, kind: str, command: tuple) -> None:
    project_root = work / "project"
    shutil.copytree(reference.root, project_root, symlinks=True)
    outside = sentinel(work)
    before = tree_hash(outside)
    target = project_root / where
    saved = work / "saved"
    if os.path.lexists(target):
        shutil.move(target, saved)   # put back once the plant is gone
    if not target.parent.is_dir() and os.path.lexists(target.parent):
        return  # the parent is a file: nothing can be planted below it
    plant(target, kind, outside)

    result = run(project_root, *command)
    text = result.stdout + result.stderr
    context = f"plant {kind} at {where}, then doit {' '.join(command)}:\n{text}"
    assert tree_hash(outside) == before, "changed files outside the project: " + context
    assert "Traceback" not in text, context

    remove(target)
    if os.path.lexists(saved):
        target.parent.mkdir(parents=True, exist_ok=True)   # `clean` may have removed it
        shutil.move(saved, target)
    again = run(project_root)
    assert again.returncode == 0, f"{context}\nthen doit:\n{again.stdout}{again.stderr}"
    assert "Traceback" not in again.stdout + again.stderr
    assert Project(project_root).tree() == reference.tree(), context
    assert tree_hash(outside) == before, "changed files outside the project: " + context


def property_test(max_examples: int):
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data(), kind=st.sampled_from(PLANTS), command=st.sampled_from(COMMANDS))
    def check(reference, tmp_path_factory, data, kind, command):
        where = data.draw(st.sampled_from(candidates(reference.root)), label="where")
        check_one(reference, tmp_path_factory.mktemp("plant"), where, kind, command)
    return check


_default = property_test(max_examples=8)
_stress = property_test(max_examples=200)


def test_planted_links_fifos_and_directories(reference, tmp_path_factory):
    _default(reference, tmp_path_factory)


@pytest.mark.stress
def test_planted_links_fifos_and_directories_stress(reference, tmp_path_factory):
    _stress(reference, tmp_path_factory)
