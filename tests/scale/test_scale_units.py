"""Pure parts of the Dask executor and the run options."""
from __future__ import annotations

import types

import pytest

from doit_conductor.errors import UserError
from doit_conductor.scale import dask_job
from doit_conductor.scale.run_options import resolve


@pytest.mark.parametrize("path, ok", [("a.txt", True), ("out/x/y.py", True), ("", False),
                                      ("../a", False), ("/etc/passwd", False),
                                      ("out/../../a", False)])
def test_only_plain_relative_paths_travel(path, ok):
    assert dask_job.inside(path) is ok


def test_shipped_input_never_lands_outside_the_scratch_directory(tmp_path):
    with pytest.raises(ValueError):
        dask_job._materialise(str(tmp_path / "scratch"), {"../escaped": b"x"})
    assert not (tmp_path / "escaped").exists()


def test_collect_names_an_undeclared_write_and_returns_declared_targets(tmp_path):
    (tmp_path / "in.txt").write_bytes(b"input")
    (tmp_path / "out.txt").write_bytes(b"result")
    task = types.SimpleNamespace(targets=["out.txt"])
    workspace = dask_job.Workspace(str(tmp_path), inputs={"in.txt": b"input"})
    targets, failure = dask_job._collect(str(tmp_path), task, workspace)
    assert failure is None and [(t.path, t.data) for t in targets] == [("out.txt", b"result")]
    (tmp_path / "extra" ).mkdir()
    (tmp_path / "extra" / "note.txt").write_bytes(b"?")
    _, failure = dask_job._collect(str(tmp_path), task, workspace)
    assert "undeclared file 'extra/note.txt'" in failure.message
    (tmp_path / "in.txt").write_bytes(b"changed input")   # an input it rewrote counts too
    (tmp_path / "extra" / "note.txt").unlink()
    _, failure = dask_job._collect(str(tmp_path), task, workspace)
    assert "undeclared file 'in.txt'" in failure.message


def test_scheduler_and_ship_need_the_dask_executor(tmp_path):
    with pytest.raises(UserError, match="need --executor dask"):
        resolve("", "local", "tcp://127.0.0.1:1", False, False, str(tmp_path))
    choice = resolve("", "dask", "", True, False, str(tmp_path))
    assert choice.active and choice.cache_url is None and choice.ship


def test_cache_setting_and_option(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.conductor.cache]\nenabled = true\n")
    assert resolve("", "local", "", False, True, str(tmp_path)).cache_url == \
        f"file://{tmp_path}/.conductor/cache/actions"
    # outside a doit-conductor project the settings are not read
    assert resolve("", "local", "", False, False, str(tmp_path)).cache_url is None
    assert resolve("s3://b/p", "local", "", False, False, str(tmp_path)).cache_url == "s3://b/p"
