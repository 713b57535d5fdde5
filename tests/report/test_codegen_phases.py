"""Task 8's phase table from hand-made records: sums, shares, slowest, overhead, comparison."""
from __future__ import annotations

from tests.support.records import record

from doit_conductor.profiling.phases import PHASES, cpu_counter, wall_counter
from doit_conductor.profiling.records import UP_TO_DATE
from doit_conductor.report.analysis import Report
from doit_conductor.report.codegen_phases import codegen_phases, compare_phases
from doit_conductor.report.render_html import render_html
from doit_conductor.report.render_json import report_to_json
from doit_conductor.report.render_text import render_text


def timed(name: str, wall: float, **phases: float):
    counters = {wall_counter(p): phases.get(p, 0.0) for p in PHASES}
    counters.update({cpu_counter(p): phases.get(p, 0.0) / 2 for p in PHASES})
    return record(name, wall, start=0.0, counters=counters)


RECORDS = [
    timed("codegen:a", 1.0, parse=0.1, generate=0.3, compile=0.4, quality=0.1, write=0.05),
    timed("codegen:b", 2.0, parse=0.2, generate=0.2, compile=1.5, quality=0.05, write=0.05),
    timed("codegen:c", 0.5, parse=0.1, generate=0.3, compile=0.0, quality=0.0, write=0.1),
    record("codegen:d", 0.0, status=UP_TO_DATE),
    record("plan-codegen", 3.0, start=0.0, counters={wall_counter("parse"): 9.0}),  # not Task 8
]


def test_phases_summed_with_shares_slowest_and_overhead():
    b = codegen_phases(RECORDS)
    assert b.subtasks == 3 and b.wall_s == 3.5
    compile_row = b.phase("compile")
    assert compile_row.wall_s == 1.9 and compile_row.cpu_s == 0.95
    assert abs(compile_row.share - 1.9 / 3.5) < 1e-12
    assert compile_row.slowest == (("b", 1.5), ("a", 0.4))   # c spent nothing there
    assert b.phase("generate").slowest == (("a", 0.3), ("c", 0.3), ("b", 0.2))
    assert abs(b.overhead_s - (3.5 - 3.45)) < 1e-9
    assert abs(sum(r.share for r in b.phases) + b.overhead_share - 1.0) < 1e-12
    assert b.worst_overhead[0] == "codegen:a"  # 0.05 of 1.0 s
    assert codegen_phases([record("codegen:x", 1.0, start=0.0)]) is None  # older run: no phases


def test_phases_compared_and_rendered_in_three_formats():
    new = codegen_phases(RECORDS[:1])
    old = codegen_phases(RECORDS)
    c = compare_phases("old", old, "new", new)
    rows = {d.phase: d for d in c.rows}
    assert (rows["compile"].old_s, rows["compile"].new_s) == (1.9, 0.4)
    assert rows["total"].delta_s == -2.5
    report = Report(phases=new, old_phases=old, phases_compared=c)
    text = render_text(report)
    assert "Task 8 (codegen): five phases summed over 1 sub-task(s), 1.000 s" in text
    assert [line.split()[0] for line in text.splitlines()[2:8]] == [*PHASES, "overhead"]
    assert "Task 8 phases, old -> new" in text
    data = report_to_json(report)
    assert [p["phase"] for p in data["codegen_phases"]["phases"]] == list(PHASES)
    assert data["codegen_phases_comparison"]["phases"][-1]["delta_s"] == -2.5
    html = render_html(report)
    # one stacked bar of the run (5 phases + overhead), two in the comparison
    assert html.count('data-phase="compile"') == 3
    assert 'id="codegen-phases"' in html and 'id="codegen-phases-compared"' in html
