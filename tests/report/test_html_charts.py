"""Chart geometry of the HTML report, from hand-made figures with known answers."""
from __future__ import annotations

import pytest
from tests.support.records import record, summary

from doit_conductor.profiling.records import CACHED, FAILED, UP_TO_DATE
from doit_conductor.report import html_charts as charts
from doit_conductor.report.analysis import analyse_run


@pytest.mark.parametrize("raw, step", [(0.3, 0.5), (1.0, 1.0), (1.2, 2.0), (7.0, 10.0), (0.0, 1.0)])
def test_nice_step_is_the_next_1_2_5_multiple_of_a_power_of_ten(raw, step):
    assert charts.nice_step(raw) == pytest.approx(step)


def test_line_chart_ticks_points_and_gaps():
    chart = charts.line_chart([None, 2.0, None, 1.0, 3.0], 3.0)
    assert [t.value for t in chart.y_ticks] == [0.0, 1.0, 2.0, 3.0]
    assert [t.at for t in chart.y_ticks] == [140.0, 100.0, 60.0, 20.0]  # top value at the plot top
    assert [p.run for p in chart.points] == [1, 2, 3, 4, 5]
    assert [p.y for p in chart.points] == [None, 60.0, None, 100.0, 20.0]
    # a lone value (run 2) is a dot only; runs 4 and 5 are joined
    assert [[p.run for p in s] for s in chart.segments] == [[4, 5]]
    assert charts.line_chart([None, None], 1.0) is None and charts.line_chart([1.0], 0.0) is None


def test_timeline_has_a_lane_per_worker_and_a_bar_per_executed_task():
    run = analyse_run("r", summary("r", workers=2, wall=4.0), [
        record("a", 2.0, start=0.0, worker=1),
        record("b", 4.0, start=0.0, worker=2),
        record("c", 0.0, ["a"], status=UP_TO_DATE),
    ])
    chart = charts.timeline(run)
    assert [lane.label for lane in chart.lanes] == ["worker 1", "worker 2"]
    assert {bar.task.name: (bar.y, bar.width) for bar in chart.bars} == {
        "a": (2, pytest.approx(445.0)), "b": (24, pytest.approx(890.0))}
    assert chart.ticks[0].at == charts.LABEL_WIDTH and chart.ticks[-1].value == 4.0
    assert "critical" in {bar.task.name: bar.css for bar in chart.bars}["b"]


def test_only_failed_tasks_are_drawn_as_failed():
    run = analyse_run("r", summary("r", workers=1, wall=3.0), [
        record("ran", 1.0, start=0.0, worker=1),
        record("restored", 1.0, start=1.0, worker=1, status=CACHED),
        record("broke", 1.0, start=2.0, worker=1, status=FAILED),
    ])
    failed = {bar.task.name: "failed" in bar.css for bar in charts.timeline(run).bars}
    assert failed == {"ran": False, "restored": False, "broke": True}


def test_stacked_bar_leaves_out_empty_phases_and_fills_the_width_at_top():
    bar = charts.stacked_bar([("parse", 1.0), ("generate", 0.0), ("compile", 3.0)], 4.0, 2, "run")
    assert [(s.phase, s.x, s.width) for s in bar.segments] == [
        ("parse", 110.0, 195.0), ("compile", 305.0, 585.0)]
