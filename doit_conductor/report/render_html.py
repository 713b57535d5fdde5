"""The report as one self-contained HTML page.

Inline CSS, inline SVG charts and a few lines of inline JS (click a table
header to sort); no external URL of any kind, and a Content-Security-Policy
that forbids fetching anything, so the page views the same offline.

The timeline is a Gantt chart of the measured run: one lane per worker, one
`rect.bar` per executed task, the critical path's bars marked `critical`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from html import escape

from doit_conductor.report import fmt
from doit_conductor.report.analysis import Ranked, Report, RunAnalysis
from doit_conductor.report.compare import Comparison, percent_change
from doit_conductor.report.dag import EXECUTED
from doit_conductor.report.history import History
from doit_conductor.report.render_phases import phase_comparison_html, phases_html

CHART_WIDTH = 1000
LABEL_WIDTH = 90
LANE_HEIGHT = 22
MAX_COMPARED_BARS = 40

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:2px 8px;text-align:right}
th{cursor:pointer;background:#f3f3f3;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
tr:nth-child(even) td{background:#fafafa}.warn{background:#fff3cd;padding:.5em;border-left:4px solid #e0a800}
.crit td:first-child{font-weight:bold;color:#b3261e}
svg{display:block;max-width:100%;height:auto}svg text{font:11px sans-serif;fill:#333}
svg text.label{fill:#fff;pointer-events:none}
.bar{fill:#6b9bd1}.bar.critical{fill:#d9534f}.bar.failed{stroke:#000;stroke-width:1.5}
.old{fill:#bbb}.new{fill:#6b9bd1}.new.regressed{fill:#d9534f}.grid{stroke:#ddd}
.line{fill:none;stroke:#6b9bd1;stroke-width:2}.line.rate{stroke:#5cb85c}.dot{fill:#6b9bd1}
.dot.rate{fill:#5cb85c}.axis-title{font-weight:bold}.empty{color:#666;font-style:italic}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
"""

# Click a header to sort by it; numeric cells carry their raw value in data-v.
# The column is the header's own index in its row (cellIndex), never its
# position among the headers of every table on the page.
SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var column = th.cellIndex, table = th.closest('table'), body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = th.dataset.order !== 'desc';
    th.dataset.order = descending ? 'desc' : 'asc';
    function key(row) {
      var cell = row.cells[column], v = cell.dataset.v;
      return v === undefined ? cell.textContent : parseFloat(v);
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


def render_html(report: Report) -> str:
    title = _title(report)
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if report.notice:
        parts.append(f'<p class="warn" id="notice">{escape(report.notice)}</p>')
    if report.run is not None:
        parts.append(run_html(report.run))
    if report.phases is not None:
        parts.append(phases_html(report.phases, table, td, td_num, td_fig))
    if report.comparison is not None:
        parts.append(comparison_html(report.comparison))
    if report.phases_compared is not None:
        parts.append(phase_comparison_html(report.phases_compared, report.old_phases,
                                           report.phases, table, td, td_num))
    if report.history is not None:
        parts.append(history_html(report.history))
    parts.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "\n".join(parts)


def _title(report: Report) -> str:
    if report.comparison is not None:
        return f"profile-report: {report.comparison.new_run} vs {report.comparison.old_run}"
    if report.run is not None:
        return f"profile-report: run {report.run.run_id}"
    return "profile-report: history"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]],
          row_classes: Sequence[str] = ()) -> str:
    """A sortable table of rows of rendered cells (`td`, `td_num`, `td_fig`)."""
    out = ['<table class="sortable"><thead><tr>']
    out += [f"<th>{escape(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for index, row in enumerate(rows):
        css = row_classes[index] if index < len(row_classes) else ""
        out.append(f'<tr class="{css}">' if css else "<tr>")
        out.extend(row)
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def td(text: str) -> str:
    """A text cell, sorted alphabetically."""
    return f"<td>{escape(text)}</td>"


def td_num(value: float | None, show: Callable[[float | None], str]) -> str:
    """A figure shown by `show`, sorted by its value (missing ones first)."""
    return td_fig(show(value), value)


def td_fig(shown: str, value: float | None) -> str:
    """A cell showing `shown` (a formatted figure or status: not escaped), sorted by `value`."""
    return f'<td data-v="{-1.0 if value is None else value:.9g}">{shown}</td>'


def run_html(run: RunAnalysis) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in run.counts.items() if n) or "no tasks"
    parts = [
        "<section id=\"summary\"><h2>Run</h2><p>",
        f"<b>{escape(run.run_id)}</b> - {'completed' if run.completed else 'INCOMPLETE'}, "
        f"{escape(fmt.workers(run.workers, run.parallel_type))}, started {fmt.timestamp(run.start)}"
        f"<br>command: <code>{escape(' '.join(run.command))}</code>"
        f"<br>wall {fmt.seconds(run.wall_s)} s, summed task time {fmt.seconds(run.task_time_s)} s, "
        f"achieved parallelism {'-' if run.parallelism is None else f'{run.parallelism:.2f}x'}"
        f"<br>tasks: {escape(counts)}</p>",
    ]
    parts += [f'<p class="warn">{escape(w)}</p>' for w in run.warnings]
    parts += [f'<p class="warn">failed <b>{escape(t.name)}</b>: {escape(t.error or "no message")}</p>'
              for t in run.failed]
    parts.append("</section>")
    parts.append('<section><h2>Timeline</h2><p class="legend"><span '
                 'style="background:#6b9bd1"></span>task<span style="background:#d9534f"></span>'
                 "critical path</p>" + timeline_svg(run) + "</section>")
    path = run.critical_path
    parts.append(f"<section><h2>Critical path: {fmt.seconds(path.duration_s)} s</h2>" + table(
        ["task", "wall s", "of path"],
        [[td(name), td_num(d, fmt.seconds),
          td_fig(fmt.percent(d / path.duration_s if path.duration_s else None), d)]
         for name, d in zip(path.tasks, path.durations_s)]) + "</section>")
    parts.append("<section><h2>What-if: predicted wall time by workers</h2>"
                 '<p class="legend"><span style="background:#6b9bd1"></span>predicted '
                 '(list scheduling on the measured DAG)<span style="background:#bbb"></span>'
                 "this run, measured</p>" + what_if_svg(run)
                 + table(["workers", "predicted s", "this run s"],
                         [[td_fig(str(w.workers), w.workers), td_num(w.predicted_wall_s, fmt.seconds),
                           td_num(w.actual_wall_s, fmt.seconds)] for w in run.what_if])
                 + "</section>")
    parts.append("<section><h2>Top tasks by wall time</h2>"
                 + _ranked(run.top_wall, "wall s", fmt.seconds) + "</section>")
    parts.append("<section><h2>Top tasks by peak memory</h2>"
                 + _ranked(run.top_memory, "peak RSS", fmt.size) + "</section>")
    parts.append("<section><h2>Tasks</h2>" + tasks_table(run) + "</section>")
    parts.append("<section><h2>Concurrency groups</h2>" + table(
        ["tasks", "depth", "count", "summed s", "longest s"],
        [[td(", ".join(g.tasks)), td_fig(str(g.level), g.level),
          td_fig(str(len(g.tasks)), len(g.tasks)),
          td_num(g.summed_s, fmt.seconds), td_num(g.longest_s, fmt.seconds)] for g in run.groups])
        + "</section>")
    parts.append(counters_html(run))
    return "\n".join(parts)


def counters_html(run: RunAnalysis) -> str:
    """The run's counters; the template cache hit rate only where that cache was consulted."""
    if not run.counters.totals:
        return "<section><h2>Counters</h2><p>no task recorded counters</p></section>"
    rate = run.counters.cache_hit_rate
    heading = "Counters"
    if rate is not None:
        heading += f" (template cache hit rate {fmt.percent(rate)})"
    return (f"<section><h2>{heading}</h2>" + table(
        ["counter", "total"],
        [[td(name), td_fig(fmt.count(v), v)] for name, v in run.counters.totals.items()])
        + "</section>")


def _ranked(ranked: Sequence[Ranked], unit: str, show: Callable[[float | None], str]) -> str:
    return table(["task", unit, "share"],
                 [[td(r.name), td_num(r.value, show), td_fig(fmt.percent(r.share), r.share)]
                  for r in ranked])


def tasks_table(run: RunAnalysis) -> str:
    rows, classes = [], []
    for t in run.tasks:
        rows.append([td(t.name), td(t.status), td_num(t.wall_s, fmt.seconds),
                     td_num(t.cpu_s, fmt.seconds), td_num(t.peak_rss_bytes, fmt.size),
                     td_num(t.io_read_bytes, fmt.size), td_num(t.io_write_bytes, fmt.size),
                     td_fig("-" if t.worker is None else str(t.worker), t.worker),
                     td_num(t.start_offset_s, fmt.seconds), td_num(t.slack_s, fmt.seconds)])
        classes.append("crit" if t.critical else "")
    return table(["task", "status", "wall s", "cpu s", "peak RSS", "read", "written", "worker",
                  "start s", "slack s"], rows, classes)


def timeline_svg(run: RunAnalysis) -> str:
    """Gantt chart of the measured run: lanes are workers, bars executed tasks."""
    bars = [t for t in run.tasks if t.status in EXECUTED and t.start_offset_s is not None]
    lanes = sorted({-1 if t.worker is None else t.worker for t in bars})
    lane_of = {worker: index for index, worker in enumerate(lanes)}
    span = max([run.wall_s or 0.0, *((t.start_offset_s or 0.0) + t.wall_s for t in bars)])
    scale = (CHART_WIDTH - LABEL_WIDTH - 20) / span if span > 0 else 0.0
    height = LANE_HEIGHT * max(len(lanes), 1) + 24
    out = [f'<svg id="timeline" viewBox="0 0 {CHART_WIDTH} {height}" '
           f'width="{CHART_WIDTH}" height="{height}" role="img" aria-label="timeline">']
    out += _axis(span, scale, height - 20)
    for worker, index in lane_of.items():
        label = "main" if worker <= 0 else f"worker {worker}"
        out.append(f'<text x="4" y="{index * LANE_HEIGHT + 15}">{label}</text>')
    for t in bars:
        x = LABEL_WIDTH + (t.start_offset_s or 0.0) * scale
        y = lane_of[-1 if t.worker is None else t.worker] * LANE_HEIGHT + 2
        css = "bar" + (" critical" if t.critical else "") + (" failed" if t.status != "ran" else "")
        out.append(f'<rect class="{css}" data-task="{escape(t.name)}" x="{x:.2f}" y="{y}" '
                   f'width="{max(t.wall_s * scale, 0.5):.2f}" '
                   f'height="{LANE_HEIGHT - 4}"><title>{escape(t.name)}: '
                   f"{fmt.seconds(t.wall_s)} s, slack {fmt.seconds(t.slack_s)} s</title></rect>")
        fits = int(t.wall_s * scale / 6.5)  # about 6.5 px per character at 11 px
        if fits >= 4:
            out.append(f'<text class="label" x="{x + 3:.2f}" y="{y + 13}">'
                       f"{escape(fmt.shorten(t.name, fits))}</text>")
    out.append("</svg>")
    return "".join(out)


def _axis(span: float, scale: float, y: float) -> list[str]:
    """Vertical grid lines with second labels, about eight of them."""
    if span <= 0:
        return []
    step = _nice_step(span / 8)
    out, tick = [], 0.0
    while tick <= span + 1e-9:
        x = LABEL_WIDTH + tick * scale
        out.append(f'<line class="grid" x1="{x:.2f}" y1="0" x2="{x:.2f}" y2="{y}"/>'
                   f'<text x="{x:.2f}" y="{y + 14}" text-anchor="middle">{tick:g}s</text>')
        tick = round(tick + step, 9)
    return out


def _nice_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def hbar_chart(rows: Sequence[tuple[str, Sequence[tuple[float, str]]]], chart_id: str) -> str:
    """Horizontal bars: per label, one bar per (value, css class), drawn one under another."""
    per_label = max((len(bars) for _, bars in rows), default=1)
    top = max((v for _, bars in rows for v, _ in bars), default=0.0)
    scale = (CHART_WIDTH - 260) / top if top > 0 else 0.0
    row_height = 8 * per_label + 8
    height = row_height * len(rows) + 4
    out = [f'<svg id="{chart_id}" viewBox="0 0 {CHART_WIDTH} {height}" width="{CHART_WIDTH}" '
           f'height="{height}" role="img">']
    for index, (label, bars) in enumerate(rows):
        y = index * row_height + 2
        out.append(f'<text x="196" y="{y + row_height / 2 + 3}" text-anchor="end">'
                   f"{escape(fmt.shorten(label, 30))}</text>")
        for k, (value, css) in enumerate(bars):
            width = max(value * scale, 0.5)
            out.append(f'<rect class="{css}" x="200" y="{y + k * 8}" width="{width:.2f}" height="7">'
                       f"<title>{escape(label)}: {fmt.seconds(value)} s</title></rect>")
        last = bars[-1][0] if bars else 0.0
        out.append(f'<text x="{204 + last * scale:.2f}" y="{y + row_height / 2 + 3}">'
                   f"{fmt.seconds(last)} s</text>")
    out.append("</svg>")
    return "".join(out)


def what_if_svg(run: RunAnalysis) -> str:
    rows = []
    for w in run.what_if:
        bars = [(w.predicted_wall_s, "new")]
        if w.actual_wall_s is not None:
            bars.insert(0, (w.actual_wall_s, "old"))
        rows.append((f"{w.workers} worker(s)", bars))
    return hbar_chart(rows, "what-if")


def comparison_html(c: Comparison) -> str:
    change = fmt.signed_percent(percent_change(c.old_wall_s, c.new_wall_s))
    regressions = c.regressions
    parts = [
        f"<section id=\"comparison\"><h2>Compare {escape(c.new_run)} against {escape(c.old_run)}</h2>",
        f"<p>run wall {fmt.seconds(c.old_wall_s)} s &rarr; {fmt.seconds(c.new_wall_s)} s ({change}); "
        f"threshold {c.threshold_pct:g}%, noise floor {c.noise_floor_s:g} s / "
        f"{fmt.size(c.noise_floor_rss_bytes)}</p>",
        f'<p class="{"warn" if regressions else ""}">{len(regressions)} regression(s)'
        + (": " + escape(", ".join(t.name for t in regressions[:20])) if regressions else "") + "</p>",
        '<p class="legend"><span style="background:#bbb"></span>old<span style="background:#6b9bd1">'
        '</span>new<span style="background:#d9534f"></span>regressed</p>',
    ]
    changed = sorted(c.tasks, key=lambda t: (-max(t.old_wall_s or 0.0, t.new_wall_s or 0.0), t.name))
    rows = [(t.name, [(t.old_wall_s or 0.0, "old"),
                      (t.new_wall_s or 0.0, "new regressed" if t.time_regressed else "new")])
            for t in changed[:MAX_COMPARED_BARS]]
    parts.append(hbar_chart(rows, "comparison-chart"))
    parts.append(table(
        ["task", "old s", "new s", "delta s", "delta", "old RSS", "new RSS", "RSS", "flag"],
        [[td(t.name), td_fig(fmt.wall_or_status(t.old_status, t.old_wall_s), t.old_wall_s),
          td_fig(fmt.wall_or_status(t.new_status, t.new_wall_s), t.new_wall_s), td_num(t.delta_s, fmt.signed_seconds),
          td_num(t.delta_pct, fmt.signed_percent), td_num(t.old_peak_rss_bytes, fmt.size),
          td_num(t.new_peak_rss_bytes, fmt.size), td_num(t.rss_delta_pct, fmt.signed_percent),
          td(("time " if t.time_regressed else "") + ("memory" if t.memory_regressed else ""))]
         for t in changed],
        ["crit" if t.time_regressed or t.memory_regressed else "" for t in changed]))
    if c.counters:
        parts.append("<h3>Counters</h3>" + table(
            ["counter", "old", "new", "delta"],
            [[td(k.name), td_fig(fmt.count(k.old), k.old), td_fig(fmt.count(k.new), k.new),
              td_fig(fmt.count(k.new - k.old), k.new - k.old)] for k in c.counters]))
    parts.append("</section>")
    return "\n".join(parts)


CHART_LEFT = 60  # room for the y-axis values


def line_chart(values: Sequence[float | None], css: str, chart_id: str, top: float,
               axis_title: str, tick_label: Callable[[float], str], empty: str) -> str:
    """Values over runs (x: run #, y: from 0 to `top` with labelled ticks).

    Each value is a dot, consecutive ones are joined by a line, a missing one
    leaves a gap; so a history where the value exists in one run only still
    shows it.  Nothing to draw is said in words instead of a blank chart.
    """
    if top <= 0 or all(v is None for v in values):
        return f'<p class="empty" id="{chart_id}">{escape(empty)}</p>'
    width, height, plot_top = CHART_WIDTH, 140, 20
    ticks = _y_ticks(top)
    top = ticks[-1]
    step = (width - CHART_LEFT - 20) / max(len(values) - 1, 1)

    def y_of(value: float) -> float:
        return height - value / top * (height - plot_top)

    out = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height + 34}" '
           f'width="{width}" height="{height + 34}" role="img" aria-label="{escape(axis_title)}">',
           f'<text class="axis-title" x="4" y="12">{escape(axis_title)}</text>']
    for tick in ticks:
        y = y_of(tick)
        out.append(f'<line class="grid" x1="{CHART_LEFT}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}"/>'
                   f'<text class="y-tick" x="{CHART_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{escape(tick_label(tick))}</text>")
    segments: list[list[str]] = [[]]
    for index, value in enumerate(values):
        x = CHART_LEFT + index * step
        out.append(f'<text class="x-tick" x="{x:.1f}" y="{height + 15}" text-anchor="middle">'
                   f"#{index + 1}</text>")
        if value is None:
            segments.append([])
            continue
        segments[-1].append(f"{x:.1f},{y_of(value):.1f}")
        out.append(f'<circle class="dot {css}" cx="{x:.1f}" cy="{y_of(value):.1f}" r="3">'
                   f"<title>#{index + 1}: {escape(tick_label(value))}</title></circle>")
    out += [f'<polyline class="line {css}" points="{" ".join(points)}"/>'
            for points in segments if len(points) > 1]
    out.append(f'<text class="axis-title" x="{width / 2:.0f}" y="{height + 31}" '
               'text-anchor="middle">run, oldest first</text></svg>')
    return "".join(out)


def _y_ticks(top: float) -> list[float]:
    """0 and about four round steps, the last at or above `top`."""
    step = _nice_step(top / 4)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 9))
    return ticks


def history_html(h: History) -> str:
    walls = [w for w in h.run_wall_s if w is not None]
    parts = [
        f'<section id="history"><h2>History of {len(h.run_ids)} run(s), oldest first</h2>',
        f'<p class="warn">{escape(h.shortfall)}</p>' if h.shortfall else "",
        "<ol>" + "".join(f"<li>{escape(r)}</li>" for r in h.run_ids) + "</ol>",
        "<h3>Run wall time</h3>",
        line_chart(h.run_wall_s, "", "history-wall", max(walls, default=0),
                   "wall time, seconds", lambda v: f"{v:g} s", "no run recorded its wall time"),
        "<h3>Template cache hit rate</h3>",
        line_chart(h.cache_hit_rates, "rate", "history-rate", 1.0,
                   "template cache hit rate, % of lookups", lambda v: f"{v * 100:.0f}%",
                   "no run here looked up the template cache (no template cache counters)"),
        table(["task", *(f"#{i + 1}" for i in range(len(h.run_ids)))],
              [[td("(run wall)"), *(td_num(w, fmt.seconds) for w in h.run_wall_s)],
               [td("(cache hit rate)"), *(td_fig(fmt.percent(r), r) for r in h.cache_hit_rates)],
               *([td(t.name), *(td_num(w, fmt.seconds) for w in t.wall_s)] for t in h.tasks)]),
        "</section>",
    ]
    return "\n".join(parts)
