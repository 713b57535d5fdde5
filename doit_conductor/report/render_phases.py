"""Task 8's phase table in the report's text and JSON, and what its HTML draws.

One module for the one section, so the main renderers only call it; like them
it computes nothing (`codegen_phases` did).  The HTML section is the template
`templates/phases.html.j2`, fed by render_html with `phase_segments`.
"""
from __future__ import annotations

from doit_conductor.report import fmt
from doit_conductor.report.codegen_phases import PhaseBreakdown, PhaseComparison, PhaseRow

COLOURS = {"parse": "#6b9bd1", "generate": "#f0ad4e", "compile": "#d9534f",
           "quality": "#5cb85c", "write": "#9b59b6", "overhead": "#bbb"}


def slowest_patterns(row: PhaseRow) -> str:
    """A phase's slowest patterns with their seconds, "-" for none."""
    return ", ".join(f"{name} {fmt.seconds(s)}" for name, s in row.slowest) or "-"


def phases_title(b: PhaseBreakdown) -> str:
    """The section's heading, the same in every format."""
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
    notes = [slowest_patterns(r) for r in b.phases]
    notes.append(f"largest in one sub-task: {fmt.percent(b.worst_overhead[1])} "
                 f"({b.worst_overhead[0]})")
    width = max(len(line) for line in body) + 2
    lines = [body[0] + " " * (width - len(body[0])) + "slowest patterns"]
    lines += [fmt.shorten(line.ljust(width) + note, 100) for line, note in zip(body[1:], notes)]
    return [phases_title(b), *lines]


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


# -- HTML (the markup is templates/phases.html.j2) -------------------------

def phase_segments(b: PhaseBreakdown) -> list[tuple[str, float]]:
    """The stacked bar's (phase, seconds), in order, overhead last (never negative)."""
    return [(r.phase, r.wall_s) for r in b.phases] + [("overhead", max(b.overhead_s, 0.0))]
