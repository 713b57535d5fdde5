"""Task 8's phase table in the report's three formats (text, JSON, HTML).

One module for the one section, so the main renderers only call it; like them
it computes nothing (`codegen_phases` did).
"""
from __future__ import annotations

from html import escape

from doit_conductor.report import fmt
from doit_conductor.report.codegen_phases import PhaseBreakdown, PhaseComparison

COLOURS = {"parse": "#6b9bd1", "generate": "#f0ad4e", "compile": "#d9534f",
           "quality": "#5cb85c", "write": "#9b59b6", "overhead": "#bbb"}
BAR_WIDTH = 900


def _slowest(row) -> str:
    return ", ".join(f"{name} {fmt.seconds(s)}" for name, s in row.slowest) or "-"


def _title(b: PhaseBreakdown) -> str:
    return (f"Task 8 (codegen): five phases summed over {b.subtasks} sub-task(s), "
            f"{fmt.seconds(b.wall_s)} s")


# -- text -----------------------------------------------------------------

def phases_text(b: PhaseBreakdown, table) -> list[str]:
    """Lines of the text report; `table` is render_text's aligned-table helper."""
    rows = [[r.phase, fmt.seconds(r.wall_s), fmt.seconds(r.cpu_s), fmt.percent(r.share)]
            for r in b.phases]
    rows.append(["overhead", fmt.seconds(b.overhead_s), "", fmt.percent(b.overhead_share)])
    body = table(["phase", "wall s", "cpu s", "share"], rows)
    # Slowest patterns after the figures, cut to the report's width.
    notes = [_slowest(r) for r in b.phases]
    notes.append(f"largest in one sub-task: {fmt.percent(b.worst_overhead[1])} "
                 f"({b.worst_overhead[0]})")
    width = max(len(line) for line in body) + 2
    lines = [body[0] + " " * (width - len(body[0])) + "slowest patterns"]
    lines += [fmt.shorten(line.ljust(width) + note, 100) for line, note in zip(body[1:], notes)]
    return [_title(b), *lines]


def phase_comparison_text(c: PhaseComparison, table) -> list[str]:
    rows = [[d.phase, fmt.seconds(d.old_s), fmt.seconds(d.new_s), fmt.signed_seconds(d.delta_s),
             fmt.signed_percent(d.delta_pct)] for d in c.rows]
    return ["Task 8 phases, old -> new", *table(["phase", "old s", "new s", "delta s", "delta"],
                                                 rows)]


# -- JSON -----------------------------------------------------------------

def phases_json(b: PhaseBreakdown | None) -> dict | None:
    if b is None:
        return None
    return {
        "subtasks": b.subtasks, "wall_s": b.wall_s,
        "phases": [{"phase": r.phase, "wall_s": r.wall_s, "cpu_s": r.cpu_s, "share": r.share,
                    "slowest": [{"pattern": n, "wall_s": s} for n, s in r.slowest]}
                   for r in b.phases],
        "overhead_s": b.overhead_s, "overhead_share": b.overhead_share,
        "worst_overhead": {"task": b.worst_overhead[0], "share": b.worst_overhead[1]},
    }


def phase_comparison_json(c: PhaseComparison | None) -> dict | None:
    if c is None:
        return None
    return {"old_run": c.old_run, "new_run": c.new_run,
            "phases": [{"phase": d.phase, "old_s": d.old_s, "new_s": d.new_s,
                        "delta_s": d.delta_s, "delta_pct": d.delta_pct} for d in c.rows]}


# -- HTML -----------------------------------------------------------------

def stacked_bar(segments: list[tuple[str, float]], top: float, y: int, label: str) -> str:
    """One horizontal bar of coloured segments, scaled so `top` seconds fill it."""
    scale = (BAR_WIDTH - 120) / top if top > 0 else 0.0
    out, x = [f'<text x="0" y="{y + 15}">{escape(label)}</text>'], 110.0
    for phase, seconds in segments:
        width = seconds * scale
        if width <= 0:
            continue
        out.append(f'<rect class="phase" data-phase="{phase}" x="{x:.2f}" y="{y}" '
                   f'width="{width:.2f}" height="20" style="fill:{COLOURS[phase]}">'
                   f"<title>{phase}: {fmt.seconds(seconds)} s</title></rect>")
        x += width
    return "".join(out)


def _segments(b: PhaseBreakdown) -> list[tuple[str, float]]:
    return [(r.phase, r.wall_s) for r in b.phases] + [("overhead", max(b.overhead_s, 0.0))]


def _legend() -> str:
    return '<p class="legend">' + "".join(
        f'<span style="background:{colour}"></span>{phase}' for phase, colour in COLOURS.items()
    ) + "</p>"


def phases_html(b: PhaseBreakdown, table, td, td_num, td_fig) -> str:
    """The section: a stacked bar of the phases and their table (render_html's cells)."""
    svg = (f'<svg id="codegen-phases" viewBox="0 0 {BAR_WIDTH} 26" width="{BAR_WIDTH}" '
           f'height="26" role="img">' + stacked_bar(_segments(b), b.wall_s, 2, "this run")
           + "</svg>")
    rows = [[td(r.phase), td_num(r.wall_s, fmt.seconds), td_num(r.cpu_s, fmt.seconds),
             td_fig(fmt.percent(r.share), r.share), td(_slowest(r))] for r in b.phases]
    rows.append([td("overhead"), td_num(b.overhead_s, fmt.seconds), td(""),
                 td_fig(fmt.percent(b.overhead_share), b.overhead_share),
                 td(f"most in {b.worst_overhead[0]}: {fmt.percent(b.worst_overhead[1])}")])
    return (f'<section id="phases"><h2>{escape(_title(b))}</h2>{_legend()}{svg}'
            + table(["phase", "wall s", "cpu s", "share", "slowest patterns"], rows)
            + "</section>")


def phase_comparison_html(c: PhaseComparison, old: PhaseBreakdown | None,
                          new: PhaseBreakdown | None, table, td, td_num) -> str:
    top = max(old.wall_s if old else 0.0, new.wall_s if new else 0.0)
    bars = []
    for index, (label, b) in enumerate((("old", old), ("new", new))):
        if b is not None:
            bars.append(stacked_bar(_segments(b), top, 2 + index * 26, label))
    svg = (f'<svg id="codegen-phases-compared" viewBox="0 0 {BAR_WIDTH} 56" width="{BAR_WIDTH}" '
           f'height="56" role="img">' + "".join(bars) + "</svg>")
    rows = [[td(d.phase), td_num(d.old_s, fmt.seconds), td_num(d.new_s, fmt.seconds),
             td_num(d.delta_s, fmt.signed_seconds), td_num(d.delta_pct, fmt.signed_percent)]
            for d in c.rows]
    return ('<section id="phases-compared"><h2>Task 8 phases, old &rarr; new</h2>' + _legend()
            + svg + table(["phase", "old s", "new s", "delta s", "delta"], rows) + "</section>")
