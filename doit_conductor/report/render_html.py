"""The report as one self-contained HTML page, drawn by Jinja2 templates.

The templates (`templates/*.j2`, shipped as package data) hold the markup:
inline CSS, inline SVG charts and a few lines of inline JS (click a table
header to sort); no external URL of any kind, and a Content-Security-Policy
that forbids fetching anything, so the page views the same offline.  Jinja2
escapes every value (autoescape), so a task name is text, never markup.

This module only gathers what the templates draw, one record per section:
the analysis records as they are, chart geometry from `html_charts`, and the
few orderings a page needs.  Jinja2 is imported on the first render, never on doit's no-op path.

The timeline is a Gantt chart of the measured run: one lane per worker, one
`rect.bar` per executed task, the critical path's bars marked `critical`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from doit_conductor.report import fmt, html_charts
from doit_conductor.report.analysis import Report, RunAnalysis
from doit_conductor.report.codegen_phases import PhaseBreakdown, PhaseComparison
from doit_conductor.report.compare import Comparison, TaskDelta, percent_change
from doit_conductor.report.history import STATE_MARKS, STATE_NOTES, History
from doit_conductor.report.render_phases import (
    COLOURS, phase_segments, phases_title, slowest_patterns)

if TYPE_CHECKING:
    import jinja2

MAX_COMPARED_BARS = 40
MAX_NAMED_REGRESSIONS = 20


def render_html(report: Report) -> str:
    """The whole page for `report` (a run, a comparison and/or a history)."""
    r = report
    return _environment().get_template("report.html.j2").render(
        title=_title(r), notice=r.notice, colours=COLOURS,
        run=_run_section(r.run) if r.run is not None else None,
        phases=_phases_section(r.phases) if r.phases is not None else None,
        comparison=_comparison_section(r.comparison) if r.comparison is not None else None,
        phases_compared=(_phases_compared_section(r.phases_compared, r.old_phases, r.phases)
                         if r.phases_compared is not None else None),
        history=_history_section(r.history) if r.history is not None else None)


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("doit_conductor.report", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(
        seconds=fmt.seconds, signed_seconds=fmt.signed_seconds, size=fmt.size,
        percent=fmt.percent, signed_percent=fmt.signed_percent, count=fmt.count,
        timestamp=fmt.timestamp, shorten=fmt.shorten, workers=fmt.workers,
        wall_or_status=fmt.wall_or_status, sort_key=sort_key,
        phases_title=phases_title, slowest_patterns=slowest_patterns)
    env.globals.update(zip=zip, notes=STATE_NOTES, marks=STATE_MARKS)
    return env


def sort_key(value: float | None) -> str:
    """A figure cell's `data-v`: its raw value, missing ones (-1) sorted first."""
    return f"{-1.0 if value is None else value:.9g}"


def _title(report: Report) -> str:
    if report.comparison is not None:
        return f"profile-report: {report.comparison.new_run} vs {report.comparison.old_run}"
    if report.run is not None:
        return f"profile-report: run {report.run.run_id}"
    return "profile-report: history"


@dataclass(frozen=True, slots=True)
class RunSection:
    run: RunAnalysis
    timeline: html_charts.Timeline
    what_if: html_charts.HBarChart


@dataclass(frozen=True, slots=True)
class ComparisonSection:
    comparison: Comparison
    change_pct: float | None  # of the run's wall time
    regressions: tuple[TaskDelta, ...]
    named: tuple[TaskDelta, ...]  # the regressions named in the summary line
    changed: tuple[TaskDelta, ...]  # every task, the longest (old or new) first
    chart: html_charts.HBarChart  # the longest MAX_COMPARED_BARS of them


@dataclass(frozen=True, slots=True)
class HistorySection:
    history: History
    wall_chart: html_charts.LineChart | None  # None: nothing to draw
    rate_chart: html_charts.LineChart | None
    headers: tuple[str, ...]  # of the table: task, #1, #2, ...


@dataclass(frozen=True, slots=True)
class PhasesSection:
    phases: PhaseBreakdown
    bar: html_charts.StackedBar


@dataclass(frozen=True, slots=True)
class PhasesComparedSection:
    compared: PhaseComparison
    bars: tuple[html_charts.StackedBar, ...]  # old above new, on one scale


def _run_section(run: RunAnalysis) -> RunSection:
    what_if = []
    for w in run.what_if:
        bars = [(w.predicted_wall_s, "new")]
        if w.actual_wall_s is not None:
            bars.insert(0, (w.actual_wall_s, "old"))
        what_if.append((f"{w.workers} worker(s)", bars))
    return RunSection(run, html_charts.timeline(run), html_charts.hbar_chart(what_if))


def _comparison_section(c: Comparison) -> ComparisonSection:
    changed = tuple(sorted(
        c.tasks, key=lambda t: (-max(t.old_wall_s or 0.0, t.new_wall_s or 0.0), t.name)))
    bars = [(t.name, [(t.old_wall_s or 0.0, "old"),
                      (t.new_wall_s or 0.0, "new regressed" if t.time_regressed else "new")])
            for t in changed[:MAX_COMPARED_BARS]]
    regressions = tuple(c.regressions)
    return ComparisonSection(c, percent_change(c.old_wall_s, c.new_wall_s), regressions,
                             regressions[:MAX_NAMED_REGRESSIONS], changed,
                             html_charts.hbar_chart(bars))


def _history_section(h: History) -> HistorySection:
    walls = [w for w in h.run_wall_s if w is not None]
    return HistorySection(h, html_charts.line_chart(h.run_wall_s, max(walls, default=0)),
                          html_charts.line_chart(h.cache_hit_rates, 1.0),
                          ("task", *(f"#{n}" for n in range(1, len(h.run_ids) + 1))))


def _phases_section(b: PhaseBreakdown) -> PhasesSection:
    return PhasesSection(b, html_charts.stacked_bar(phase_segments(b), b.wall_s, 2, "this run"))


def _phases_compared_section(c: PhaseComparison, old: PhaseBreakdown | None,
                             new: PhaseBreakdown | None) -> PhasesComparedSection:
    top = max(old.wall_s if old else 0.0, new.wall_s if new else 0.0)
    bars = tuple(html_charts.stacked_bar(phase_segments(b), top, 2 + index * 26, label)
                 for index, (label, b) in enumerate((("old", old), ("new", new)))
                 if b is not None)
    return PhasesComparedSection(c, bars)
