"""Where things go on the HTML report's SVG charts: pure geometry, no markup.

The templates under `templates/` draw these records; this module only turns
figures into coordinates (scales, ticks, lanes), so each can be tested with
hand-made numbers and the templates hold nothing but formatting.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from doit_conductor.report.analysis import RunAnalysis, TaskRow
from doit_conductor.profiling.records import FAILED
from doit_conductor.report.dag import EXECUTED

CHART_WIDTH = 1000
LABEL_WIDTH = 90
LANE_HEIGHT = 22
CHART_LEFT = 60  # room for a line chart's y-axis values
CHAR_WIDTH_PX = 6.5  # about that many px per character at 11 px
PHASE_BAR_WIDTH = 900


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x (time axis) or y (value axis) in px
    value: float


@dataclass(frozen=True, slots=True)
class Lane:
    label: str
    y: int


@dataclass(frozen=True, slots=True)
class GanttBar:
    task: TaskRow
    css: str
    x: float
    y: int
    width: float
    fits: int  # characters of the name that fit inside the bar
    label: str | None  # what is written inside it (`bar_label`); None: nothing fits


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: int
    lane_height: int
    axis_y: float
    ticks: tuple[Tick, ...]
    lanes: tuple[Lane, ...]
    bars: tuple[GanttBar, ...]


def timeline(run: RunAnalysis) -> Timeline:
    """Gantt chart of the measured run: lanes are workers, bars executed tasks."""
    tasks = [t for t in run.tasks if t.status in EXECUTED and t.start_offset_s is not None]
    workers = sorted({-1 if t.worker is None else t.worker for t in tasks})
    lane_of = {worker: index for index, worker in enumerate(workers)}
    span = max([run.wall_s or 0.0, *((t.start_offset_s or 0.0) + t.wall_s for t in tasks)])
    scale = (CHART_WIDTH - LABEL_WIDTH - 20) / span if span > 0 else 0.0
    height = LANE_HEIGHT * max(len(workers), 1) + 24
    lanes = tuple(Lane("main" if worker <= 0 else f"worker {worker}", index * LANE_HEIGHT + 15)
                  for worker, index in lane_of.items())
    bars = []
    for t in tasks:
        css = "bar" + (" critical" if t.critical else "") + (" failed" if t.status == FAILED else "")
        fits = int(t.wall_s * scale / CHAR_WIDTH_PX)
        bars.append(GanttBar(t, css, LABEL_WIDTH + (t.start_offset_s or 0.0) * scale,
                             lane_of[-1 if t.worker is None else t.worker] * LANE_HEIGHT + 2,
                             max(t.wall_s * scale, 0.5), fits, bar_label(t.name, fits)))
    return Timeline(CHART_WIDTH, height, LANE_HEIGHT, height - 20,
                    _time_ticks(span, scale), lanes, tuple(bars))


def bar_label(name: str, fits: int) -> str | None:
    """The label inside a bar `fits` characters wide: the whole name, else a
    sub-task's own part (`currency` of `codegen:currency`), else none at all.
    Never a name cut in the middle (`va~rns`): the bar's tooltip has it whole."""
    if len(name) <= fits:
        return name
    own = name.rpartition(":")[2]
    return own if own and own != name and len(own) <= fits else None


def _time_ticks(span: float, scale: float) -> tuple[Tick, ...]:
    """Vertical grid lines at round seconds, about eight of them."""
    if span <= 0:
        return ()
    step = nice_step(span / 8)
    out, tick = [], 0.0
    while tick <= span + 1e-9:
        out.append(Tick(LABEL_WIDTH + tick * scale, tick))
        tick = round(tick + step, 9)
    return tuple(out)


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5, 10 times a power of ten that is at least `raw`."""
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


@dataclass(frozen=True, slots=True)
class HBar:
    value: float
    css: str
    y: float
    width: float


@dataclass(frozen=True, slots=True)
class HBarRow:
    label: str
    label_y: float
    bars: tuple[HBar, ...]
    last: float  # the value written after the row's last bar
    last_x: float


@dataclass(frozen=True, slots=True)
class HBarChart:
    width: int
    height: int       # the whole chart, axis labels and title included
    rows: tuple[HBarRow, ...]
    axis_y: float = 0.0   # the value axis (seconds) runs along the bottom of the bars here
    ticks: tuple[Tick, ...] = ()  # on that axis: x in px, value in seconds
    left: int = 200   # where bars start (x of the value 0); labels end at left - 4


HBAR_LEFT = 200


def hbar_chart(rows: Sequence[tuple[str, Sequence[tuple[float, str]]]]) -> HBarChart:
    """Horizontal bars: per label, one bar per (value, css class), drawn one under
    another, over a value axis from 0 with round ticks (the last at or past the
    largest value)."""
    per_label = max((len(bars) for _, bars in rows), default=1)
    top = max((v for _, bars in rows for v, _ in bars), default=0.0)
    ticks = y_ticks(top) if top > 0 else []
    scale = (CHART_WIDTH - HBAR_LEFT - 60) / ticks[-1] if ticks else 0.0
    row_height = 8 * per_label + 8
    out = []
    for index, (label, bars) in enumerate(rows):
        y = index * row_height + 2
        last = bars[-1][0] if bars else 0.0
        out.append(HBarRow(label, y + row_height / 2 + 3,
                           tuple(HBar(value, css, y + k * 8, max(value * scale, 0.5))
                                 for k, (value, css) in enumerate(bars)),
                           last, HBAR_LEFT + 4 + last * scale))
    axis_y = row_height * len(rows) + 4
    return HBarChart(CHART_WIDTH, int(axis_y) + 36, tuple(out), axis_y,
                     tuple(Tick(HBAR_LEFT + value * scale, value) for value in ticks), HBAR_LEFT)


@dataclass(frozen=True, slots=True)
class Point:
    run: int  # 1-based run number
    x: float
    y: float | None  # None: no value in that run
    value: float | None


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int  # of the plot; the x-axis labels go below it
    y_ticks: tuple[Tick, ...]
    points: tuple[Point, ...]
    segments: tuple[tuple[Point, ...], ...]  # runs of consecutive values, 2 or more


def line_chart(values: Sequence[float | None], top: float) -> LineChart | None:
    """Values over runs (x: run #, y: from 0 to `top` with round ticks); None: nothing to draw.

    Each value is a dot, consecutive ones are joined by a line, a missing one
    leaves a gap; so a history where the value exists in one run only still
    shows it.
    """
    if top <= 0 or all(v is None for v in values):
        return None
    width, height, plot_top = CHART_WIDTH, 140, 20
    ticks = y_ticks(top)
    top = ticks[-1]
    step = (width - CHART_LEFT - 20) / max(len(values) - 1, 1)

    def y_of(value: float) -> float:
        return height - value / top * (height - plot_top)

    points = tuple(Point(index + 1, CHART_LEFT + index * step,
                         None if value is None else y_of(value), value)
                   for index, value in enumerate(values))
    segments: list[list[Point]] = [[]]
    for point in points:
        if point.y is None:
            segments.append([])
        else:
            segments[-1].append(point)
    return LineChart(width, height, tuple(Tick(y_of(t), t) for t in ticks), points,
                     tuple(tuple(s) for s in segments if len(s) > 1))


def y_ticks(top: float) -> list[float]:
    """0 and about four round steps, the last at or above `top`."""
    step = nice_step(top / 4)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 9))
    return ticks


@dataclass(frozen=True, slots=True)
class Segment:
    phase: str
    seconds: float
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class StackedBar:
    label: str
    y: int
    segments: tuple[Segment, ...]


def stacked_bar(parts: Sequence[tuple[str, float]], top: float, y: int, label: str) -> StackedBar:
    """One horizontal bar of (phase, seconds) segments, scaled so `top` seconds fill it;
    empty segments are left out."""
    scale = (PHASE_BAR_WIDTH - 120) / top if top > 0 else 0.0
    segments, x = [], 110.0
    for phase, seconds in parts:
        width = seconds * scale
        if width <= 0:
            continue
        segments.append(Segment(phase, seconds, x, width))
        x += width
    return StackedBar(label, y, tuple(segments))
