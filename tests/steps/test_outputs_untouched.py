"""scan-output's uptodate check (`outputs_untouched`): a file whose stat is as it
was when the check last read it (earlier in the process, or in the last run,
through `layout.UNTOUCHED_MEMO`) is not read again; any other is."""
from __future__ import annotations

import os
import time

import pytest

from doit_conductor import layout, safe_fs
from doit_conductor.codegen.manifest import MANIFEST_VERSION
from doit_conductor.codegen.outputs import content_checksum
from doit_conductor.incremental import racy
from doit_conductor.state_files import write_state
from tasks.steps import artifacts, inputs_and_plan

OUTPUT = "out/python/a.py"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    caches = (artifacts._MANIFEST_FILES, artifacts._MANIFEST_DIGESTS,
              inputs_and_plan._READ_BEFORE)
    for cache in caches:
        cache.clear()
    os.makedirs(os.path.dirname(OUTPUT))
    with open(OUTPUT, "wb") as handle:
        handle.write(b"first = 1\n")
    os.makedirs(os.path.dirname(layout.MANIFEST), exist_ok=True)
    write_state(layout.MANIFEST, {"version": MANIFEST_VERSION, "files": {
        OUTPUT: {"checksum": content_checksum(b"first = 1\n"), "pattern": "a", "batch": "b"}}})
    yield tmp_path
    for cache in caches:
        cache.clear()


def settle(path: str) -> None:
    """Wait until `path`'s last change is older than its file system's racy window."""
    time.sleep(racy.window_ns(os.stat(path).st_dev, racy.fine_devices()) / 1e9 + 0.05)


def test_same_size_edit_with_mtime_put_back_is_seen_on_the_second_ask(workspace):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    assert OUTPUT in inputs_and_plan._READ_BEFORE[os.getcwd()].files  # remembered by its stat
    before = os.stat(OUTPUT)
    with open(OUTPUT, "wb") as handle:
        handle.write(b"first = 2\n")
    os.utime(OUTPUT, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not inputs_and_plan.outputs_untouched()


def test_a_file_replaced_by_a_link_to_the_same_bytes_is_not_vouched_for(workspace):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    os.rename(OUTPUT, "elsewhere.py")
    os.symlink(os.path.abspath("elsewhere.py"), OUTPUT)
    assert not inputs_and_plan.outputs_untouched()


def test_a_file_read_within_its_racy_window_is_read_again(workspace):
    assert inputs_and_plan.outputs_untouched()  # just written: not remembered
    assert OUTPUT not in inputs_and_plan._memo().files
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    assert OUTPUT in inputs_and_plan._READ_BEFORE[os.getcwd()].files


def forget_the_process() -> None:
    inputs_and_plan._READ_BEFORE.clear()
    artifacts._MANIFEST_FILES.clear()


def count_reads(monkeypatch) -> list[str]:
    """The generated files opened from now on (state files are not counted)."""
    reads = []
    real = safe_fs.open_regular

    def counted(path, **kwargs):
        if str(path).startswith("out/"):
            reads.append(str(path))
        return real(path, **kwargs)
    monkeypatch.setattr(safe_fs, "open_regular", counted)
    return reads


def test_the_next_run_reads_only_what_changed(workspace, monkeypatch):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    assert os.path.exists(layout.UNTOUCHED_MEMO)
    forget_the_process()  # a new `doit` process
    reads = count_reads(monkeypatch)
    assert inputs_and_plan.outputs_untouched()
    assert reads == []


def test_the_next_run_sees_a_same_size_edit_with_mtime_put_back(workspace):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    forget_the_process()
    before = os.stat(OUTPUT)
    with open(OUTPUT, "wb") as handle:
        handle.write(b"first = 2\n")
    os.utime(OUTPUT, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not inputs_and_plan.outputs_untouched()


def test_a_damaged_memo_is_read_past(workspace, monkeypatch):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    with open(layout.UNTOUCHED_MEMO, "r+b") as handle:
        handle.seek(-5, os.SEEK_END)
        handle.write(b"xxxxx")
    forget_the_process()
    reads = count_reads(monkeypatch)
    assert inputs_and_plan.outputs_untouched()
    assert reads == [OUTPUT]


def count_manifest_reads(monkeypatch) -> list[str]:
    reads = []
    real = artifacts._read_manifest_files

    def counted(path):
        reads.append(path)
        return real(path)
    monkeypatch.setattr(artifacts._MANIFEST_FILES, "_derive", counted)
    return reads


def test_the_next_run_needs_neither_the_manifest_nor_a_file_while_all_is_as_remembered(
        workspace, monkeypatch):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    forget_the_process()
    reads, manifests = count_reads(monkeypatch), count_manifest_reads(monkeypatch)
    assert inputs_and_plan.outputs_untouched()
    assert (reads, manifests) == ([], [])


def write_manifest(files: dict[str, bytes]) -> None:
    write_state(layout.MANIFEST, {"version": MANIFEST_VERSION, "files": {
        path: {"checksum": content_checksum(data), "pattern": "a", "batch": "b"}
        for path, data in files.items()}})


def test_another_manifest_version_is_checked_file_by_file(workspace):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    forget_the_process()
    write_manifest({OUTPUT: b"first = 9\n"})   # the file is as remembered; the record is not
    assert not inputs_and_plan.outputs_untouched()


def test_a_file_missing_when_checked_is_read_once_it_appears(workspace):
    second = "out/python/b.py"
    write_manifest({OUTPUT: b"first = 1\n", second: b"second = 1\n"})
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()   # b.py missing: codegen's to restore
    forget_the_process()
    with open(second, "wb") as handle:
        handle.write(b"second = 2\n")
    assert not inputs_and_plan.outputs_untouched()


def test_the_recordings_ask_judges_the_stats_the_recording_swept(workspace, monkeypatch):
    from doit_conductor.incremental import snapshot
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    forget_the_process()
    taken = snapshot.take(("key",), [OUTPUT], 1, time.time_ns())

    def no_lstat(path):
        raise AssertionError(f"{path} stat-ed again")
    with monkeypatch.context() as patched, snapshot.judging(taken):
        patched.setattr(inputs_and_plan.os, "lstat", no_lstat)
        assert inputs_and_plan.outputs_untouched()
    # a swept stat other than the remembered one: the file is read again
    moved = taken.stats[0][:1] + (taken.stats[0][1] + 1,) + taken.stats[0][2:]
    forget_the_process()
    reads = count_reads(monkeypatch)
    with snapshot.judging(snapshot.Snapshot(("key",), (OUTPUT,), (moved,), {}, 1, 0)):
        assert inputs_and_plan.outputs_untouched()
    assert reads == [OUTPUT]


def test_a_file_that_went_missing_is_forgotten(workspace):
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    os.unlink(OUTPUT)
    assert inputs_and_plan.outputs_untouched()   # codegen's to restore
    assert OUTPUT not in inputs_and_plan._memo().files
    forget_the_process()
    assert OUTPUT not in inputs_and_plan._memo().files   # nor written back
