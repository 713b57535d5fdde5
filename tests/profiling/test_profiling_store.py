"""The metrics store: layout, writer, reader, retention, baselines."""
from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from doit_conductor.profiling import store
from doit_conductor.profiling.records import RAN, RecordError, RunSummary, TaskRecord

START = 1_795_000_000.0


def _summary(run_id: str, completed: bool = False) -> RunSummary:
    return RunSummary(run_id=run_id, command=("doit",), doit_version="0.37.0", workers=0,
                      parallel_type="serial", start=START, end=None, wall_s=None, counts={},
                      totals={}, host={"cores": 1}, completed=completed)


def _write(root, run_id, names=("a", "b"), finish=True):
    summary = _summary(run_id)
    writer = store.RunWriter(root, summary)
    for name in names:
        writer.append(TaskRecord(name=name, status=RAN, wall_s=1.5, counters={"n": 2}))
    if finish:
        writer.finish(replace(summary, completed=True, end=START + 3, wall_s=3.0),
                      {"traceEvents": [], "displayTimeUnit": "ms"})
    writer.close()
    return writer.path


def test_run_ids_sort_by_time():
    earlier = store.new_run_id(START, 99999)
    later = store.new_run_id(START + 0.000001, 1)
    assert earlier == "20261118T110640.000000Z-99999"
    assert earlier < later
    assert store.new_run_id(START, 7).endswith("Z-7")


def test_write_then_load(tmp_path):
    root = store.metrics_root(tmp_path)
    assert root == tmp_path / ".conductor" / "metrics"
    path = _write(root, store.new_run_id(START, 1))
    run = store.load_run(path)
    assert run.path == path and run.summary.completed and run.summary.wall_s == 3.0
    assert [t.name for t in run.tasks] == ["a", "b"] and run.tasks[0].counters == {"n": 2}
    assert (path / "tasks.jsonl").read_text().count("\n") == 2
    assert json.loads((path / "trace.json").read_text())["displayTimeUnit"] == "ms"


def test_list_runs_oldest_first_ignoring_strangers(tmp_path):
    root = store.metrics_root(tmp_path)
    ids = [store.new_run_id(START + i, 5) for i in (2, 0, 1)]
    for run_id in ids:
        _write(root, run_id)
    (store.runs_dir(root) / "notes").mkdir()
    (store.runs_dir(root) / ".tmp-thing").mkdir()
    assert [p.name for p in store.list_runs(root)] == sorted(ids)
    assert store.list_runs(tmp_path / "nowhere") == []


def test_incomplete_run_loads_and_drops_a_torn_line(tmp_path):
    path = _write(store.metrics_root(tmp_path), store.new_run_id(START, 1), finish=False)
    with open(path / "tasks.jsonl", "ab") as handle:
        handle.write(b'{"name": "c", "stat')
    run = store.load_run(path)
    assert run.summary.completed is False
    assert [t.name for t in run.tasks] == ["a", "b"]


def test_torn_line_in_a_completed_run_is_an_error(tmp_path):
    path = _write(store.metrics_root(tmp_path), store.new_run_id(START, 1))
    with open(path / "tasks.jsonl", "ab") as handle:
        handle.write(b'{"name"')
    with pytest.raises(RecordError, match="last line is incomplete"):
        store.load_run(path)


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "summary.json").unlink(), "summary.json: missing"),
    (lambda p: (p / "summary.json").write_text("{not json"), "not valid JSON"),
    (lambda p: (p / "tasks.jsonl").write_text('{"name": "a"}\n'), "tasks.jsonl:1: .*schema version"),
    (lambda p: (p / "tasks.jsonl").unlink(), "tasks.jsonl: missing"),
])
def test_damaged_runs_raise_one_line_errors(tmp_path, damage, message):
    path = _write(store.metrics_root(tmp_path), store.new_run_id(START, 1))
    damage(path)
    with pytest.raises(RecordError, match=message) as caught:
        store.load_run(path)
    assert "\n" not in str(caught.value)


def test_other_schema_version_is_refused(tmp_path):
    path = _write(store.metrics_root(tmp_path), store.new_run_id(START, 1))
    data = json.loads((path / "summary.json").read_text())
    data["schema_version"] = 99
    (path / "summary.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match="schema version 99"):
        store.load_run(path)


def test_prune_keeps_the_newest_and_spares_the_current(tmp_path):
    root = store.metrics_root(tmp_path)
    paths = [_write(root, store.new_run_id(START + i, 1)) for i in range(5)]
    removed = store.prune_runs(root, 2, spare=paths[0])
    assert removed == paths[1:3]
    assert store.list_runs(root) == [paths[0], paths[3], paths[4]]


def test_keep_runs_setting(tmp_path):
    assert store.keep_runs_setting(tmp_path) == store.DEFAULT_KEEP_RUNS
    (tmp_path / "pyproject.toml").write_text("[tool.conductor.metrics]\nkeep_runs = 7\n")
    assert store.keep_runs_setting(tmp_path) == 7
    (tmp_path / "pyproject.toml").write_text("[tool.conductor.metrics]\nkeep_runs = 0\n")
    said = []
    assert store.keep_runs_setting(tmp_path, said.append) == store.DEFAULT_KEEP_RUNS
    # a project without this workflow's task 2 hears of it from the reporter
    assert len(said) == 1 and said[0].startswith("WARNING: pyproject.toml:2: ")
    assert "keep_runs" in said[0] and f"newest {store.DEFAULT_KEEP_RUNS} runs" in said[0]
    (tmp_path / "pyproject.toml").write_text("not [ toml")
    assert store.keep_runs_setting(tmp_path) == store.DEFAULT_KEEP_RUNS
    # one policy with load-config: a config that does not validate means the defaults
    (tmp_path / "pyproject.toml").write_text("[tool.conductor]\nline_lenght = 88\n"
                                             "[tool.conductor.metrics]\nkeep_runs = 7\n")
    assert store.keep_runs_setting(tmp_path) == store.DEFAULT_KEEP_RUNS


def test_promote_baseline_copies_and_replaces(tmp_path):
    root = store.metrics_root(tmp_path)
    first = _write(root, store.new_run_id(START, 1), names=("a",))
    second = _write(root, store.new_run_id(START + 1, 1), names=("a", "b", "c"))
    target = store.promote_baseline(root, first, "release-1.0")
    assert target == store.baseline_dir(root, "release-1.0") == root / "baselines" / "release-1.0"
    assert len(store.load_run(target).tasks) == 1
    store.promote_baseline(root, second, "release-1.0")
    assert len(store.load_run(target).tasks) == 3
    assert sorted(p.name for p in (root / "baselines").iterdir()) == ["release-1.0"]
    assert first.exists()  # a copy, not a move


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_bad_baseline_names(tmp_path, name):
    root = store.metrics_root(tmp_path)
    run = _write(root, store.new_run_id(START, 1))
    with pytest.raises(RecordError, match="baseline name"):
        store.promote_baseline(root, run, name)


def test_incomplete_runs_are_not_promoted(tmp_path):
    root = store.metrics_root(tmp_path)
    run = _write(root, store.new_run_id(START, 1), finish=False)
    with pytest.raises(RecordError, match="did not complete"):
        store.promote_baseline(root, run, "base")
    assert not (root / "baselines" / "base").exists()


def test_previous_durations_look_back_for_tasks_that_ran(tmp_path):
    root = store.metrics_root(tmp_path)
    old = store.RunWriter(root, _summary(store.new_run_id(START, 1)))
    old.append(TaskRecord(name="a", status=RAN, wall_s=2.0))
    old.append(TaskRecord(name="b", status=RAN, wall_s=4.0))
    old.close()
    new = store.RunWriter(root, _summary(store.new_run_id(START + 1, 1)))
    new.append(TaskRecord(name="a", status="up-to-date", wall_s=0.0))
    new.append(TaskRecord(name="b", status=RAN, wall_s=5.0))
    new.close()
    assert store.previous_durations(root, {"a", "b", "z"}) == {"a": 2.0, "b": 5.0}
    assert store.previous_durations(root, {"a", "b"}, exclude=new.path) == {"a": 2.0, "b": 4.0}


def _lines(path) -> list[str]:
    return [json.loads(line)["name"] for line in (path / "tasks.jsonl").read_text().splitlines()]


def test_records_are_held_and_written_in_batches(tmp_path):
    # issue 24: one write per batch, not one per task (a task that ran included)
    writer = store.RunWriter(store.metrics_root(tmp_path), _summary(store.new_run_id(START, 1)))
    writer.append(TaskRecord(name="a", status="up-to-date"))
    writer.append(TaskRecord(name="b", status="ignored"))
    writer.append(TaskRecord(name="c", status=RAN, wall_s=1.0))
    writer.append(TaskRecord(name="f", status="failed", wall_s=1.0))
    assert _lines(writer.path) == []
    writer.flush()
    assert _lines(writer.path) == ["a", "b", "c", "f"]
    writer.append(TaskRecord(name="e", status="up-to-date"))
    writer.close()
    assert _lines(writer.path) == ["a", "b", "c", "f", "e"]
    assert (writer.path / "tasks.jsonl").read_bytes().endswith(b"\n")


def test_held_records_go_out_while_the_caller_is_busy(tmp_path):
    """The timer writes them: doit's thread may be inside a long task (or be
    killed in one) without appending anything else."""
    writer = store.RunWriter(store.metrics_root(tmp_path), _summary(store.new_run_id(START, 1)))
    writer.append(TaskRecord(name="a", status=RAN, wall_s=1.0))
    deadline = time.monotonic() + 10 * store.HOLD_S
    while not _lines(writer.path) and time.monotonic() < deadline:
        time.sleep(store.HOLD_S / 10)
    assert _lines(writer.path) == ["a"]
    writer.close()


def test_held_records_go_out_after_the_hold_interval(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(store.time, "monotonic", lambda: clock[0])
    writer = store.RunWriter(store.metrics_root(tmp_path), _summary(store.new_run_id(START, 1)))
    writer.append(TaskRecord(name="a", status="up-to-date"))
    clock[0] += store.HOLD_S / 2
    writer.append(TaskRecord(name="b", status="up-to-date"))
    assert _lines(writer.path) == []
    clock[0] += store.HOLD_S / 2
    writer.append(TaskRecord(name="c", status="up-to-date"))
    assert _lines(writer.path) == ["a", "b", "c"]
    writer.close()


def test_a_finished_run_indexes_the_durations_of_tasks_that_ran(tmp_path):
    root = store.metrics_root(tmp_path)
    summary = _summary(store.new_run_id(START, 1))
    writer = store.RunWriter(root, summary)
    writer.append(TaskRecord(name="a", status=RAN, wall_s=2.0))
    writer.append(TaskRecord(name="b", status="up-to-date"))
    writer.append(TaskRecord(name="c", status="failed", wall_s=3.0))
    writer.finish(replace(summary, completed=True), {"traceEvents": []})
    index = json.loads((writer.path / store.DURATIONS).read_text())
    assert index == {"schema_version": 1, "ran": {"a": 2.0}}
    assert store.previous_durations(root, {"a", "b", "c"}) == {"a": 2.0}


def test_previous_durations_read_the_index_rather_than_the_records(tmp_path):
    root = store.metrics_root(tmp_path)
    path = _write(root, store.new_run_id(START, 1), names=("a", "b"))
    (path / "tasks.jsonl").write_text("")  # the index alone answers
    assert store.previous_durations(root, {"a", "b"}) == {"a": 1.5, "b": 1.5}


@pytest.mark.parametrize("index", [None, "{garbled", '{"schema_version": 99, "ran": {}}'])
def test_previous_durations_fall_back_to_the_records(tmp_path, index):
    root = store.metrics_root(tmp_path)
    path = _write(root, store.new_run_id(START, 1), names=("a", "b"))
    if index is None:
        (path / store.DURATIONS).unlink()
    else:
        (path / store.DURATIONS).write_text(index)
    with open(path / "tasks.jsonl", "ab") as handle:
        handle.write(b'{"name": "c", "status": "ran", "wal')  # torn by a kill
    assert store.previous_durations(root, {"a", "c"}) == {"a": 1.5}


def test_a_run_directory_appears_with_its_summary(tmp_path, monkeypatch):
    """The run directory is renamed into place with summary.json in it, so a run
    killed at any moment leaves no directory without a summary."""
    seen = []
    real_rename = store.os.rename

    def watch(source, target):
        seen.append(sorted(p.name for p in store.Path(source).iterdir()))
        real_rename(source, target)

    monkeypatch.setattr(store.os, "rename", watch)
    writer = store.RunWriter(tmp_path, _summary("20261124T000000.000000Z-1"))
    assert seen == [[store.SUMMARY]]
    writer.close()
    assert [p.name for p in store.list_runs(tmp_path)] == ["20261124T000000.000000Z-1"]


def test_prune_clears_stale_staging_directories(tmp_path):
    import os
    staging = store.runs_dir(tmp_path) / ".20261124T000000.000000Z-9.tmp"
    staging.mkdir(parents=True)
    fresh = store.runs_dir(tmp_path) / ".20261124T000001.000000Z-9.tmp"
    fresh.mkdir()
    os.utime(staging, (0, 0))
    store.prune_runs(tmp_path, 5)
    assert not staging.exists() and fresh.exists()
    assert store.list_runs(tmp_path) == []
