"""scan-output's uptodate check (`outputs_untouched`): asked twice in a run that
executed something (doit's walk, then the fast no-op's re-check), the second
time without reading a file whose stat is as it was when it was read."""
from __future__ import annotations

import os
import time

import pytest

from doit_conductor import layout
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
    assert OUTPUT in inputs_and_plan._READ_BEFORE[os.getcwd()]  # remembered by its stat
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
    assert OUTPUT not in inputs_and_plan._READ_BEFORE.get(os.getcwd(), {})
    settle(OUTPUT)
    assert inputs_and_plan.outputs_untouched()
    assert OUTPUT in inputs_and_plan._READ_BEFORE[os.getcwd()]
