"""The report on Dask runs and cached tasks: worker use per host, cached counts,
and the what-if with a per-task cluster overhead."""
from __future__ import annotations

import json

import pytest
from tests.support.records import record, summary

from doit_conductor.profiling.records import CACHED, UP_TO_DATE
from doit_conductor.report.analysis import Report, analyse_run
from doit_conductor.report.render_json import report_to_json
from doit_conductor.report.render_text import render_text

RECORDS = [
    record("plan", 1.0, start=0.0, pid=10),                         # ran in the client
    record("a", 2.0, ["plan"], start=1.0, pid=21, host="node-1"),
    record("b", 2.0, ["plan"], start=1.0, pid=22, host="node-2"),
    record("c", 1.0, ["a"], start=3.0, pid=21, host="node-1"),
    record("d", 0.5, ["plan"], start=1.0, status=CACHED, pid=10),
    record("e", 0.0, start=0.0, status=UP_TO_DATE),
]


def test_worker_use_per_host_and_cached_counts():
    run = analyse_run("r", summary("r", workers=2, wall=4.0), RECORDS, workers=(1, 2))
    assert run.counts[CACHED] == 1
    use = {(u.host, u.pid): (u.tasks, u.busy_s) for u in run.worker_use}
    assert use == {("(client)", 10): (2, 1.5), ("node-1", 21): (2, 3.0),
                   ("node-2", 22): (1, 2.0)}
    text = render_text(Report(run=run))
    assert "1 cached" in text and "node-2" in text
    data = json.loads(json.dumps(report_to_json(Report(run=run))))
    assert {u["host"] for u in data["run"]["worker_use"]} == {"(client)", "node-1", "node-2"}


def test_runs_on_one_machine_show_no_worker_table():
    local = [record("a", 1.0, start=0.0, pid=5), record("b", 1.0, ["a"], start=1.0, pid=5)]
    run = analyse_run("r", summary("r"), local)
    assert run.worker_use == () and "Workers (" not in render_text(Report(run=run))


def test_what_if_on_a_cluster_adds_the_overhead_to_each_executed_task():
    plain = analyse_run("r", summary("r", workers=2, wall=4.0), RECORDS, workers=(100,))
    cluster = analyse_run("r", summary("r", workers=2, wall=4.0), RECORDS, workers=(100,),
                          task_overhead_s=0.25)
    by_count = {w.workers: w.predicted_wall_s for w in plain.what_if}
    with_overhead = {w.workers: w.predicted_wall_s for w in cluster.what_if}
    # the longest chain plan -> a -> c holds three executed tasks
    assert by_count[100] == pytest.approx(4.0)
    assert with_overhead[100] == pytest.approx(4.75)
    assert "+250 ms per task" in render_text(Report(run=cluster))
