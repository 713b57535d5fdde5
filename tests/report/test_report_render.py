"""The per-run analysis and what the text and JSON renderers make of it."""
from __future__ import annotations

import json

import pytest
from tests.support.records import record, summary

from doit_conductor.profiling.records import FAILED, UP_TO_DATE
from doit_conductor.report.analysis import Report, analyse_run
from doit_conductor.report.compare import compare_runs
from doit_conductor.report.history import history
from doit_conductor.report.render_json import REPORT_SCHEMA_VERSION, report_to_json
from doit_conductor.report.render_text import WIDTH, render_text

LONG = "codegen:" + "very-long-pattern-name-" * 6
RECORDS = [
    record("config", 1.0, start=0.0, worker=0, peak_rss_bytes=100, cpu_user_s=0.5, cpu_sys_s=0.1),
    record(LONG, 3.0, ["config"], start=1.0, worker=1, peak_rss_bytes=300),
    record("docs", 2.0, ["config"], start=1.0, worker=2, peak_rss_bytes=600),
    record("package", 1.0, [LONG, "docs"], start=4.0, worker=1, status=FAILED, error="boom"),
    record("lint", 0.4, start=5.0, status=UP_TO_DATE),
]


@pytest.fixture
def run():
    return analyse_run("r2", summary("r2", workers=2, wall=5.5), RECORDS, workers=(1, 2), top=2)


def test_run_figures(run):
    assert run.task_time_s == 7.0
    assert run.parallelism == pytest.approx(7.0 / 5.5)
    assert run.counts == {"ran": 3, "up-to-date": 1, "failed": 1, "ignored": 0, "not-run": 0,
                          "cached": 0}
    assert [(r.name, r.value, r.share) for r in run.top_wall] == [(LONG, 3.0, 3 / 7), ("docs", 2.0, 2 / 7)]
    assert [(r.name, r.share) for r in run.top_memory] == [("docs", 0.6), (LONG, 0.3)]
    assert run.critical_path.tasks == ("config", LONG, "package")
    rows = {t.name: t for t in run.tasks}
    # lint was up-to-date: it did not run, so it has no slack to show (issue 26).
    assert rows["docs"].slack_s == 1.0 and rows["lint"].slack_s is None
    assert rows["config"].cpu_s == pytest.approx(0.6)
    assert [t.name for t in run.failed] == ["package"]
    assert any("1 task(s) failed: package" in w for w in run.warnings)
    assert [(w.workers, w.predicted_wall_s, w.actual_wall_s) for w in run.what_if] == [
        (1, 7.0, None), (2, 5.0, 5.5)]


def test_incomplete_run_is_flagged_and_uses_what_its_tasks_spanned():
    run = analyse_run("r", summary("r", wall=None, completed=False), RECORDS[:2])
    assert not run.completed
    assert run.wall_s == 4.0
    assert any("incomplete" in w for w in run.warnings)


def test_text_fits_100_columns():
    run_id = "20261124T114629.976749Z-8230"
    run = analyse_run(run_id, summary(run_id, workers=16, wall=5.5, completed=False), RECORDS)
    baseline = f"baseline:{'b' * 64} ({run_id})"
    comparison = compare_runs(baseline, RECORDS, 5.0, run_id, RECORDS, 5.5, threshold_pct=12.5,
                              noise_floor_s=0.125)
    many = [(f"run-{i:02d}", 5.0, RECORDS) for i in range(20)]
    text = render_text(Report(run, comparison, history(many)))
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "Critical path: 5.000 s through 3 task(s)" in text
    assert "showing the last" in text
    assert "failed package: boom" in text


def test_json_schema_carries_the_documented_keys(run):
    comparison = compare_runs("r1", [record("package", 0.5)], 5.0, "r2",
                              [record("package", 1.0)], 5.5)
    data = json.loads(json.dumps(report_to_json(Report(run, comparison))))
    assert data["schema_version"] == REPORT_SCHEMA_VERSION
    assert data["run"]["critical_path"] == {
        "tasks": ["config", LONG, "package"], "durations_s": [1.0, 3.0, 1.0], "duration_s": 5.0}
    assert {t["name"]: t["slack_s"] for t in data["run"]["tasks"]}["docs"] == 1.0
    assert data["run"]["what_if"][1] == {"workers": 2, "predicted_wall_s": 5.0, "actual_wall_s": 5.5}
    assert [r["name"] for r in data["regressions"]] == ["package"]
    assert data["history"] is None


def test_serial_run_is_compared_with_one_worker_and_top_zero_lists_all():
    run = analyse_run("r", summary("r", workers=0, wall=7.5), RECORDS, workers=(2,), top=0)
    assert [(w.workers, w.actual_wall_s) for w in run.what_if] == [(1, 7.5), (2, None)]
    assert len(run.top_wall) == 4 and len(run.top_memory) == 3
    assert "(completed, serial)" in render_text(Report(run))
    limited = render_text(Report(run), rows=2)
    assert "... 3 more (--rows 0 shows all)" in limited
