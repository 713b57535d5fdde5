"""Pure parts of the Dask executor and the run options."""
from __future__ import annotations

import types

import pytest

from doit_conductor.errors import UserError
from doit_conductor.glue import dask_job
from doit_conductor.scale import run_options, ship
from doit_conductor.scale.run_options import resolve


@pytest.mark.parametrize("path, ok", [("a.txt", True), ("out/x/y.py", True), ("", False),
                                      ("../a", False), ("/etc/passwd", False),
                                      ("out/../../a", False)])
def test_only_plain_relative_paths_travel(path, ok):
    assert ship.inside(path) is ok


def test_shipped_input_never_lands_outside_the_scratch_directory(tmp_path):
    with pytest.raises(ValueError):
        ship.materialise(str(tmp_path / "scratch"), {"../escaped": b"x"})
    assert not (tmp_path / "escaped").exists()


def test_collect_names_an_undeclared_write_and_returns_declared_targets(tmp_path):
    (tmp_path / "in.txt").write_bytes(b"input")
    (tmp_path / "out.txt").write_bytes(b"result")
    task = types.SimpleNamespace(targets=["out.txt"])
    workspace = ship.Workspace(str(tmp_path), inputs={"in.txt": b"input"})
    targets, failure = ship.collect(str(tmp_path), task.targets, workspace)
    assert failure is None and [(t.path, t.data) for t in targets] == [("out.txt", b"result")]
    (tmp_path / "extra" ).mkdir()
    (tmp_path / "extra" / "note.txt").write_bytes(b"?")
    _, failure = ship.collect(str(tmp_path), task.targets, workspace)
    assert "undeclared file 'extra/note.txt'" in failure
    (tmp_path / "in.txt").write_bytes(b"changed input")   # an input it rewrote counts too
    (tmp_path / "extra" / "note.txt").unlink()
    _, failure = ship.collect(str(tmp_path), task.targets, workspace)
    assert "undeclared file 'in.txt'" in failure


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


def test_batch_size_setting(tmp_path):
    assert resolve("", "dask", "", False, True, str(tmp_path)).batch_size == 8
    (tmp_path / "pyproject.toml").write_text("[tool.conductor.dask]\nbatch_size = 16\n")
    assert resolve("", "dask", "", False, True, str(tmp_path)).batch_size == 16
    (tmp_path / "pyproject.toml").write_text("[tool.conductor.dask]\nbatch_size = 0\n")
    with pytest.raises(UserError) as raised:
        resolve("", "dask", "", False, True, str(tmp_path))
    assert "batch_size" in str(raised.value)


def test_shipped_targets_are_verified_before_any_is_written(tmp_path, monkeypatch):
    import hashlib

    from doit_conductor.glue.dask_runner import _write_shipped
    monkeypatch.chdir(tmp_path)
    good = ship.ShippedTarget("a.txt", b"a", hashlib.sha256(b"a").hexdigest())
    bad = ship.ShippedTarget("b.txt", b"b!", hashlib.sha256(b"b").hexdigest())
    task = types.SimpleNamespace(meta={})
    failure = _write_shipped((good, bad), task)
    assert "'b.txt' arrived damaged" in failure.message
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists()
    assert _write_shipped((good,), task) is None
    assert (tmp_path / "a.txt").read_bytes() == b"a"


def test_targets_changed_by_a_lost_task_are_removed(tmp_path, monkeypatch):
    from doit_conductor.scale.ship import remove_changed as _remove_changed, target_states as _target_states
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept.txt").write_text("old")
    before = _target_states(["kept.txt", "half.txt", "absent.txt"])
    (tmp_path / "half.txt").write_text("half of it")
    assert _remove_changed(["kept.txt", "half.txt", "absent.txt"], before) == ["half.txt"]
    assert (tmp_path / "kept.txt").exists() and not (tmp_path / "half.txt").exists()


def test_only_the_projects_own_uninstalled_modules_travel_by_value(tmp_path):
    """An editable install of doit_conductor lives under the checkout it runs in:
    it must still be imported by name on the workers (a copy broke its config
    dataclasses' annotations), while the workflow's own `tasks` is sent."""
    from types import SimpleNamespace

    from doit_conductor.scale.dask_cluster import project_modules
    root = str(tmp_path)
    own = SimpleNamespace(__file__=f"{root}/tasks/__init__.py")
    installed = SimpleNamespace(__file__=f"{root}/doit_conductor/__init__.py")
    library = SimpleNamespace(__file__="/usr/lib/python3/site-packages/yaml/__init__.py")
    submodule = SimpleNamespace(__file__=f"{root}/tasks/workflow.py")
    modules = {"tasks": own, "doit_conductor": installed, "yaml": library,
               "tasks.workflow": submodule, "__main__": own}
    chosen = project_modules(modules, root, {"doit_conductor": ["doit-conductor"]})
    assert chosen == [own]


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def _fail():
    return False


def test_a_batch_stops_at_its_first_failure_unless_told_to_keep_going(tmp_path):
    import cloudpickle
    from doit.task import Task
    workspaces = [ship.Workspace(str(tmp_path))] * 3
    tasks = cloudpickle.dumps([Task("first", [(_write, ["first.txt", "1"])]),
                               Task("broken", [_fail]),
                               Task("third", [(_write, ["third.txt", "3"])])])

    stopped = dask_job.run_batch(tasks, workspaces, keep_going=False)
    assert [r.result["name"] for r in stopped] == ["first", "broken"]
    assert stopped[1].result.get("failure") is not None
    assert (tmp_path / "first.txt").exists() and not (tmp_path / "third.txt").exists()

    kept_going = dask_job.run_batch(tasks, workspaces, keep_going=True)
    assert [r.result["name"] for r in kept_going] == ["first", "broken", "third"]
    assert (tmp_path / "third.txt").read_text() == "3"


def test_workers_running_other_conductor_code_are_named():
    from doit_conductor.scale.dask_cluster import check_workers
    check_workers({"tcp://127.0.0.1:1": "abc", "tcp://127.0.0.1:2": "abc"}, "abc", "tcp://s")
    with pytest.raises(UserError) as raised:
        check_workers({"tcp://127.0.0.1:1": "abc", "tcp://127.0.0.1:2": "old"}, "abc",
                      "tcp://s")
    assert "tcp://127.0.0.1:2" in str(raised.value)
    assert "tcp://127.0.0.1:1" not in str(raised.value)


@pytest.mark.parametrize("jobs, slots, sizes", [(10, 4, [3, 3, 2, 2]), (64, 4, [16] * 4),
                                                (3, 4, [1, 1, 1]), (0, 4, []), (5, 1, [5])])
def test_ready_tasks_are_spread_over_the_free_slots_in_order(jobs, slots, sizes):
    from doit_conductor.glue.dask_runner import spread
    batches = spread(list(range(jobs)), slots)
    assert [len(b) for b in batches] == sizes
    assert [job for batch in batches for job in batch] == list(range(jobs))


@pytest.mark.parametrize("count", [-1, -2, run_options.MAX_WORKERS + 1])
def test_a_negative_or_absurd_worker_count_is_a_user_error(count):
    with pytest.raises(UserError, match=f"^-n {count}: "):
        run_options.check_worker_count(count)


@pytest.mark.parametrize("count", [0, 1, 3, run_options.MAX_WORKERS])
def test_a_sane_worker_count_passes(count):
    run_options.check_worker_count(count)
