"""What issue 26 found hard to read in the report, from hand-made records: names of
20-30 characters kept on their row, no slack for tasks that did not run, counters
without the phase timings, history runs marked, timeline labels never cut, the
what-if chart's axes."""
from __future__ import annotations

import json

from tests.support.records import record, summary

from doit_conductor.profiling.records import FAILED, NOT_RUN, UP_TO_DATE
from doit_conductor.report.analysis import Report, analyse_run
from doit_conductor.report.compare import compare_runs
from doit_conductor.report.history import INTERRUPTED, NO_OP, OK, RUN_FAILED, history
from doit_conductor.report.html_charts import bar_label, hbar_chart
from doit_conductor.report.render_json import report_to_json
from doit_conductor.report.render_text import WIDTH, render_text

NAMES = ["codegen:order_status", "codegen:list_products", "codegen:pattern_name_00042",
         "verification:reproducibility"]   # 20 to 28 characters
PHASED = {"template_cache_hits": 3, "files_rendered": 4, "phase_parse_s": 0.0200153,
          "phase_parse_cpu_s": 0.00261065, "phase_write_s": 0.0351921}


def _records():
    records = [record("load-config", 0.2, start=0.0, worker=0, cpu_user_s=0.1,
                      peak_rss_bytes=5_000_000, io_read_bytes=1_200_000, io_write_bytes=70)]
    for i, name in enumerate(NAMES):
        records.append(record(name, 0.5 + i, ["load-config"], start=0.2, worker=1 + i % 3,
                              cpu_user_s=0.3, peak_rss_bytes=3_700_000, io_read_bytes=1_100_000,
                              io_write_bytes=76, counters=dict(PHASED)))
    records.append(record("docs", 0.0, ["load-config"], status=UP_TO_DATE))
    records.append(record("package", 0.0, NAMES, status=NOT_RUN))
    return records


def _run():
    return analyse_run("r", summary("r", workers=3, wall=4.0), _records())


def _row_of(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if name in line)


def test_names_of_20_to_28_characters_stay_on_their_row_in_every_text_table():
    run = _run()
    comparison = compare_runs("old", _records(), 4.0, "r", _records(), 4.0)
    many = [(f"run-{i:02d}", 4.0, _records()) for i in range(9)]
    text = render_text(Report(run, comparison, history(many)))
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    for line in text.splitlines():
        assert line.strip() not in NAMES, f"a name alone on its line: {line!r}"
    assert _row_of(text, "* verification:reproducibility ").split()[2:4] == ["ran", "3.500"]


def test_tasks_that_did_not_run_have_no_slack():
    run = _run()
    rows = {t.name: t for t in run.tasks}
    assert rows["docs"].slack_s is None and rows["package"].slack_s is None
    assert rows["codegen:order_status"].slack_s == 3.0
    text = render_text(Report(run))
    tasks = text[text.index("Tasks, in start order"):]
    assert _row_of(tasks, "  docs ").split()[-1] == "-"
    assert _row_of(tasks, "  package ").split()[-1] == "-"
    data = {t["name"]: t["slack_s"] for t in report_to_json(Report(run))["run"]["tasks"]}
    assert data["docs"] is None and data["codegen:order_status"] == 3.0


def test_the_counters_table_leaves_the_phase_timings_to_the_phase_section():
    run = _run()
    text = render_text(Report(run))
    counters = text[text.index("\nCounters"):].split("\n\n")[0]
    assert "phase_" not in counters
    assert _row_of(counters, "template_cache_hits").split() == ["template_cache_hits", "12"]
    comparison = compare_runs("old", _records(), 4.0, "r", _records(), 4.0)
    compared = render_text(Report(comparison=comparison))
    assert "phase_" not in compared and "0.0200153" not in compared
    # the JSON keeps every counter, to the last digit
    totals = report_to_json(Report(run))["run"]["counters"]["totals"]
    assert totals["phase_parse_s"] == 4 * 0.0200153


def test_history_marks_interrupted_failed_and_no_op_runs():
    ran = _records()
    failed = [*ran[:-1], record("package", 0.1, NAMES, start=3.0, status=FAILED, worker=1)]
    no_op = [record(r.name, 0.0, status=UP_TO_DATE) for r in ran]
    runs = [("r1", 4.0, ran), ("r2", 0.3, ran[:2]), ("r3", 3.9, failed), ("r4", 0.02, no_op)]
    h = history(runs, completed=[True, False, True, True])
    assert h.run_states == (OK, INTERRUPTED, RUN_FAILED, NO_OP)
    text = render_text(Report(history=h))
    assert "run wall I interrupted, F failed, N no-op" in text
    assert "  #2: r2  (interrupted: its wall covers part of a build)" in text
    assert "  #4: r4  (no-op: nothing executed)" in text
    assert _row_of(text, "(run wall)").split() == [
        "(run", "wall)", "4.000", "0.300", "I", "3.900", "F", "0.020", "N"]
    assert report_to_json(Report(history=h))["history"]["run_states"] == [
        "ok", "interrupted", "failed", "no-op"]
    json.dumps(report_to_json(Report(history=h)))


def test_timeline_labels_are_whole_names_or_a_sub_tasks_own_part_never_cut():
    assert bar_label("codegen:currency", 20) == "codegen:currency"
    assert bar_label("codegen:currency", 10) == "currency"
    assert bar_label("codegen:currency", 5) is None
    assert bar_label("verification", 6) is None   # not `ver~on`


def test_the_what_if_chart_has_a_value_axis_with_round_ticks_from_zero():
    chart = hbar_chart([("1 worker(s)", [(0.876, "new")]), ("2 worker(s)", [(0.5, "new")])])
    values = [t.value for t in chart.ticks]
    assert values[0] == 0 and values[-1] >= 0.876 and len(values) >= 3
    assert chart.ticks[0].at == chart.left
    # the largest tick ends where the scale does: every bar stays inside it
    assert all(bar.width <= chart.ticks[-1].at - chart.left
               for row in chart.rows for bar in row.bars)
    assert chart.height > chart.axis_y + 30   # room for tick labels and the axis title
