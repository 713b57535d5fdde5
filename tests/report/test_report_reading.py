"""What a reader of the text report sees: whole names, a legend that is not a
finding, histories that say why they are short, counter headings that fit any
project."""
from __future__ import annotations

from tests.support.records import record, summary

from doit_conductor.report.analysis import Report, analyse_run
from doit_conductor.report.compare import compare_runs
from doit_conductor.report.history import history
from doit_conductor.report.render_html import render_html
from doit_conductor.report.render_text import WIDTH, render_text

# Sibling sub-tasks whose names differ only in the middle, too long for the column.
SIBLINGS = [f"codegen:{verb}_customer_account_with_a_rather_long_name_{'x' * 20}_order_status"
            for verb in ("create", "update", "delete")]


def sibling_run(**counters):
    records = [record(name, 0.1 * (i + 1), start=0.1 * i, worker=0, counters=dict(counters))
               for i, name in enumerate(SIBLINGS)]
    return analyse_run("r", summary("r", wall=1.0), records), records


def test_long_sibling_names_stay_whole_and_distinguishable():
    run, _ = sibling_run()
    text = render_text(Report(run))
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    for name in SIBLINGS:
        assert name in text  # written whole (on a line of its own), never cut
    # (the concurrency groups' task lists are shortened; names in tables are not)
    assert "~" not in text.split("Concurrency groups")[0]


def test_the_regression_definition_is_a_legend_not_a_finding():
    _, records = sibling_run()
    comparison = compare_runs("a", records, 1.0, "b", records, 1.0, threshold_pct=10)
    text = render_text(Report(comparison=comparison))
    assert "No regressions." in text
    assert not any(line.strip().startswith("a task regressed") for line in text.splitlines())
    legend = [line for line in text.splitlines() if "regressed, i.e. grew by more than 10%" in line]
    assert len(legend) == 1 and legend[0].strip().startswith("(flag T/M")


def test_a_short_history_says_why():
    _, records = sibling_run()
    runs = [(f"run-{i}", 1.0, records) for i in range(7)]
    assert "7 of the 10 asked for: only 7 run(s) are recorded" in render_text(
        Report(history=history(runs, requested=10)))
    assert "asked for" not in render_text(Report(history=history(runs, requested=7)))
    skipped = render_text(Report(history=history(runs, requested=10, skipped=2)))
    assert "only 9 run(s) are recorded and 2 of them could not be read" in skipped


def test_counter_headings_in_a_project_without_the_template_cache():
    run, _ = sibling_run(rows_loaded=3)
    text, html = render_text(Report(run)), render_html(Report(run))
    assert "\nCounters\n" in text and "template cache hit rate" not in text
    assert "<h2>Counters</h2>" in html and "template cache hit rate" not in html
    bare, _ = sibling_run()
    assert "Counters: none recorded" in render_text(Report(bare))
    assert "no task recorded counters" in render_html(Report(bare))
    cached, _ = sibling_run(template_cache_hits=3, template_cache_misses=1)
    assert "Counters (template cache hit rate 75.0%)" in render_text(Report(cached))


def test_a_long_command_line_is_wrapped_whole_never_cut():
    import dataclasses
    import itertools
    command = ("doit", "-n", "2", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:8786",
               "--cache", "file:///home/someone/conductor-demo/team-cache", "codegen")
    records = [record("a", 0.1, worker=0)]
    run = analyse_run("r", dataclasses.replace(summary("r"), command=command), records)
    lines = render_text(Report(run)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  command: "))
    shown = [lines[start][len("  command: "):]]
    shown += [line.strip() for line in itertools.takewhile(
        lambda line: line.startswith(" " * 11) and line[11] != " ", lines[start + 1:])]
    assert len(shown) > 1 and max(len(line) for line in lines) <= WIDTH
    assert " ".join(shown) == " ".join(command)
