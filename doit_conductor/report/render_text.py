"""The report as aligned plain-text tables no wider than 100 columns."""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

from doit_conductor.report import fmt
from doit_conductor.report.analysis import Ranked, Report, RunAnalysis
from doit_conductor.report.compare import Comparison, TaskDelta, percent_change
from doit_conductor.report.history import STATE_MARKS, STATE_NOTES, History
from doit_conductor.report.render_phases import phase_comparison_text, phases_text

WIDTH = 100
GAP = "  "


def render_text(report: Report, rows: int = 0) -> str:
    """The whole report; `rows` limits the per-task tables (0 = every task)."""
    sections: list[str] = []
    if report.notice:
        sections.append("\n".join(textwrap.wrap(f"Note: {report.notice}", WIDTH,
                                                 subsequent_indent="  ", break_on_hyphens=False)))
    if report.run is not None:
        sections.append(run_section(report.run, rows))
    if report.phases is not None:
        sections.append("\n".join(phases_text(report.phases, table)))
    if report.comparison is not None:
        sections.append(comparison_section(report.comparison, rows))
    if report.phases_compared is not None:
        sections.append("\n".join(phase_comparison_text(report.phases_compared, table)))
    if report.history is not None:
        sections.append(history_section(report.history, rows))
    return "\n\n".join(sections) + "\n"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ",
          wrap: bool = True) -> list[str]:
    """Columns sized to their content, numbers right-aligned, no wider than `WIDTH`.

    When a name does not fit, the columns close up to one space apart first, which leaves room for names of 25-30 characters even in the
    widest table.  A name still too long is never cut (sibling sub-tasks
    differ anywhere in their names): it is written whole on a line of its own
    (wrapped if wider than the page) and its figures go on the next.  With
    `wrap=False` (a column of lists, not names) it is shortened in the middle
    instead."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    gap = GAP
    others = sum(widths[1:]) + len(gap) * (len(headers) - 1) + len(indent)
    if wrap and widths[0] > WIDTH - others:
        gap = " "
        others = sum(widths[1:]) + len(gap) * (len(headers) - 1) + len(indent)
    widths[0] = max(min(widths[0], WIDTH - others), 8)

    def line(cells: Sequence[str]) -> list[str]:
        name = cells[0]
        wrapped = []
        if len(name) > widths[0]:
            if wrap:
                room = WIDTH - len(indent)
                wrapped = [indent + name[i:i + room] for i in range(0, len(name), room)]
                name = ""
            else:
                name = fmt.shorten(name, widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return wrapped + [(indent + gap.join([name.ljust(widths[0]), *rest])).rstrip()]

    return [*line(headers), *(text for row in rows for text in line(row))]


def limited(rows: list, limit: int) -> tuple[list, str | None]:
    if limit <= 0 or len(rows) <= limit:
        return rows, None
    return rows[:limit], f"  ... {len(rows) - limit} more (--rows 0 shows all)"


def _command_lines(command: Sequence[str]) -> list[str]:
    """The run's command line whole, wrapped between its words: cutting it could
    show another command (a scheduler address without its middle)."""
    wrapped = textwrap.wrap(" ".join(command), WIDTH - 11, break_long_words=False,
                            break_on_hyphens=False) or [""]
    return [f"  command: {wrapped[0]}", *(" " * 11 + line for line in wrapped[1:])]


def run_section(run: RunAnalysis, limit: int) -> str:
    state = "completed" if run.completed else "INCOMPLETE"
    counts = ", ".join(f"{n} {status}" for status, n in run.counts.items() if n)
    lines = [
        fmt.shorten(f"Run {run.run_id}  ({state}, {fmt.workers(run.workers, run.parallel_type)})",
                    WIDTH),
        f"  started {fmt.timestamp(run.start)}",
        *_command_lines(run.command),
        f"  wall {fmt.seconds(run.wall_s)} s   summed task time {fmt.seconds(run.task_time_s)} s   "
        f"achieved parallelism {_times(run.parallelism)}",
        f"  tasks: {counts or 'none'}",
    ]
    lines += [f"  ! {warning}" for warning in run.warnings]
    for failed in run.failed:
        lines.append(fmt.shorten(f"  ! failed {failed.name}: {failed.error or 'no message'}", WIDTH))
    lines += ["", *critical_path_lines(run), "", *what_if_lines(run), ""]
    if run.worker_use:
        lines += [*worker_lines(run), ""]
    lines += _ranked("Top tasks by wall time", "wall s", run.top_wall, fmt.seconds)
    lines += [""] + _ranked("Top tasks by peak memory", "peak RSS", run.top_memory, fmt.size)
    lines += ["", *task_lines(run, limit), "", *group_lines(run, limit), "", *counter_lines(run)]
    return "\n".join(lines).rstrip()


def critical_path_lines(run: RunAnalysis) -> list[str]:
    path = run.critical_path
    lines = [f"Critical path: {fmt.seconds(path.duration_s)} s through {len(path.tasks)} task(s)"]
    rows = [[name, fmt.seconds(d), fmt.percent(d / path.duration_s if path.duration_s else None)]
            for name, d in zip(path.tasks, path.durations_s)]
    return lines + table(["task", "wall s", "of path"], rows) if rows else lines


def what_if_lines(run: RunAnalysis) -> list[str]:
    rows = [[str(w.workers), fmt.seconds(w.predicted_wall_s),
             fmt.seconds(w.actual_wall_s) if w.actual_wall_s is not None else "",
             _times(run.task_time_s / w.predicted_wall_s if w.predicted_wall_s else None)]
            for w in run.what_if]
    overhead = (f", +{run.task_overhead_s * 1000:g} ms per task" if run.task_overhead_s else "")
    return [f"What-if: simulated wall time by number of workers (measured DAG and durations"
            f"{overhead})", *table(["workers", "predicted s", "this run s", "speed-up"], rows)]


def worker_lines(run: RunAnalysis) -> list[str]:
    rows = [[use.host, str(use.pid or ""), str(use.tasks), fmt.seconds(use.busy_s)]
            for use in run.worker_use]
    return ["Workers (tasks run on other processes and hosts)",
            *table(["host", "pid", "tasks", "busy s"], rows)]


def _ranked(title: str, unit: str, ranked: Sequence[Ranked], show) -> list[str]:
    if not ranked:
        return [f"{title}: none measured"]
    rows = [[r.name, show(r.value), fmt.percent(r.share)] for r in ranked]
    return [title, *table(["task", unit, "share"], rows)]


def task_lines(run: RunAnalysis, limit: int) -> list[str]:
    rows = []
    for t in run.tasks:
        rows.append([
            ("* " if t.critical else "  ") + t.name, t.status, fmt.seconds(t.wall_s),
            fmt.seconds(t.cpu_s), fmt.compact_size(t.peak_rss_bytes),
            f"{fmt.compact_size(t.io_read_bytes)}/{fmt.compact_size(t.io_write_bytes)}",
            "-" if t.worker is None else str(t.worker),
            fmt.seconds(t.start_offset_s), fmt.seconds(t.slack_s)])   # '-': did not run
    shown, more = limited(rows, limit)
    lines = ["Tasks, in start order (* on the critical path; slack: how much longer a task "
             "could take)"]
    lines += table(["  task", "status", "wall s", "cpu s", "RSS", "read/written", "worker",
                    "start s", "slack s"], shown)
    return lines + ([more] if more else [])


def group_lines(run: RunAnalysis, limit: int) -> list[str]:
    rows = [[str(g.level), str(len(g.tasks)), fmt.seconds(g.summed_s), fmt.seconds(g.longest_s),
             ", ".join(g.tasks)] for g in run.groups]
    shown, more = limited(rows, limit)
    lines = ["Concurrency groups: executed tasks by dependency depth (each could run together)"]
    # The task list is the flexible column here, so it goes first and is shortened.
    body = table(["tasks", "depth", "count", "summed s", "longest s"],
                 [[r[4], *r[:4]] for r in shown], wrap=False)
    return lines + body + ([more] if more else [])


def counter_lines(run: RunAnalysis) -> list[str]:
    totals = run.counters.counts
    if not totals:
        return ["Counters: none recorded" if not run.counters.totals
                else "Counters: only Task 8's phase timings (see its section)"]
    rows = [[name, fmt.count(value)] for name, value in totals.items()]
    rate = run.counters.cache_hit_rate
    heading = "Counters"
    if rate is not None:
        heading += f" (template cache hit rate {fmt.percent(rate)})"
    return [heading, *table(["counter", "total"], rows)]


def comparison_section(comparison: Comparison, limit: int) -> str:
    c = comparison
    lines = [
        fmt.shorten(f"Compare {c.new_run} against {c.old_run}", WIDTH),
        f"  run wall {fmt.seconds(c.old_wall_s)} s -> {fmt.seconds(c.new_wall_s)} s "
        f"({fmt.signed_percent(percent_change(c.old_wall_s, c.new_wall_s))})",
    ]
    rows = []
    for t in sorted(c.tasks, key=lambda t: (-(abs(t.delta_s or 0.0)), t.name)):
        flag = ("T" if t.time_regressed else "") + ("M" if t.memory_regressed else "")
        rows.append([t.name, fmt.wall_or_status(t.old_status, t.old_wall_s), fmt.wall_or_status(t.new_status, t.new_wall_s),
                     fmt.signed_seconds(t.delta_s), fmt.signed_percent(t.delta_pct),
                     fmt.size(t.old_peak_rss_bytes), fmt.size(t.new_peak_rss_bytes),
                     fmt.signed_percent(t.rss_delta_pct), flag or ""])
    shown, more = limited(rows, limit)
    lines += ["", "Tasks by size of change",
              f"  (flag T/M: time/memory regressed, i.e. grew by more than {c.threshold_pct:g}% "
              f"and by at least {c.noise_floor_s:g} s / {fmt.size(c.noise_floor_rss_bytes)})"]
    lines += table(["task", "old s", "new s", "delta s", "delta", "old RSS", "new RSS", "RSS",
                    "flag"], shown)
    lines += [more] if more else []
    if c.counts:
        lines += ["", "Counters"]
        lines += table(["counter", "old", "new", "delta"],
                       [[k.name, fmt.count(k.old), fmt.count(k.new), fmt.count(k.new - k.old)]
                        for k in c.counts])
    regressions = c.regressions
    lines.append("")
    if regressions:
        lines.append(f"{len(regressions)} regression(s):")
        shown, more = limited(regressions, limit)
        lines += [fmt.shorten(f"  {t.name}: {_regression_kind(t)}", WIDTH) for t in shown]
        lines += [more] if more else []
    else:
        lines.append("No regressions.")
    return "\n".join(lines)


NAME_ROOM = 32  # the history keeps this much for task names before it drops older runs


def history_section(history: History, limit: int) -> str:
    column = 9
    names = max([len("(cache hit rate)"), *(len(t.name) for t in history.tasks)])
    room = max((WIDTH - 2 - min(names, NAME_ROOM)) // (column + len(GAP)), 1)
    count = min(len(history.run_ids), room)
    first = len(history.run_ids) - count
    states = history.run_states or ("",) * len(history.run_ids)
    lines = [f"History of {len(history.run_ids)} run(s), oldest first (wall s; '-' did not run"
             + ("; run wall I interrupted, F failed, N no-op" if any(
                 s in STATE_MARKS for s in states) else "") + ")"]
    if history.shortfall:
        lines.append(f"  {history.shortfall}")
    if first:
        lines.append(f"  showing the last {count}; --format json or html has all of them")
    for index, (run_id, state) in enumerate(zip(history.run_ids[first:], states[first:]),
                                            start=first + 1):
        note = f"  ({STATE_NOTES[state]})" if state in STATE_NOTES else ""
        lines.append(fmt.shorten(f"  #{index}: {run_id}{note}", WIDTH))
    headers = ["task", *(f"#{i}" for i in range(first + 1, len(history.run_ids) + 1))]
    walls = [fmt.seconds(w) + (f" {STATE_MARKS[s]}" if s in STATE_MARKS else "")
             for w, s in zip(history.run_wall_s[first:], states[first:])]
    rows = [["(run wall)", *walls],
            ["(cache hit rate)", *(fmt.percent(r) for r in history.cache_hit_rates[first:])]]
    task_rows = [[t.name, *(fmt.seconds(w) for w in t.wall_s[first:])] for t in history.tasks]
    shown, more = limited(task_rows, limit)
    lines += table(headers, rows + shown)
    return "\n".join(lines + ([more] if more else []))


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _regression_kind(delta: TaskDelta) -> str:
    parts = []
    if delta.time_regressed:
        parts.append(f"time {fmt.signed_percent(delta.delta_pct)}")
    if delta.memory_regressed:
        parts.append(f"memory {fmt.signed_percent(delta.rss_delta_pct)}")
    return ", ".join(parts)
