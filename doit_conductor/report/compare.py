"""Two runs side by side: per-task deltas, regressions, counter changes.

Pure functions on records: no I/O, no printing.

Regression rules (documented in docs/profile-report.md):

* only tasks that *ran successfully in both runs* can regress; a task that
  was up-to-date or failed in one run did different work and is listed, not
  flagged;
* time regressed: new wall_s exceeds old wall_s by more than `threshold_pct`
  percent **and** by at least `noise_floor_s` seconds (default 0.05 s: below
  that, process start-up jitter dominates a task's time);
* memory regressed: new peak RSS exceeds old by more than `threshold_pct`
  percent **and** by at least `noise_floor_rss_bytes` (default 8 MiB: allocator
  and interpreter noise between two runs of the same task).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from doit_conductor.profiling.records import RAN, TaskRecord
from doit_conductor.report.counter_summary import COUNTER_NAMES, is_count, summed_counters
from doit_conductor.report.dag import EXECUTED

DEFAULT_THRESHOLD_PCT = 10.0
NOISE_FLOOR_S = 0.05
NOISE_FLOOR_RSS_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TaskDelta:
    """One task in both runs; `None` where a run lacks the task or the figure."""

    name: str
    old_status: str | None
    new_status: str | None
    old_wall_s: float | None
    new_wall_s: float | None
    old_peak_rss_bytes: int | None
    new_peak_rss_bytes: int | None
    time_regressed: bool
    memory_regressed: bool

    @property
    def delta_s(self) -> float | None:
        if self.old_wall_s is None or self.new_wall_s is None:
            return None
        return self.new_wall_s - self.old_wall_s

    @property
    def delta_pct(self) -> float | None:
        return percent_change(self.old_wall_s, self.new_wall_s)

    @property
    def rss_delta_pct(self) -> float | None:
        return percent_change(self.old_peak_rss_bytes, self.new_peak_rss_bytes)


@dataclass(frozen=True, slots=True)
class CounterDelta:
    name: str
    old: float
    new: float


@dataclass(frozen=True, slots=True)
class Comparison:
    old_run: str
    new_run: str
    old_wall_s: float | None
    new_wall_s: float | None
    threshold_pct: float
    noise_floor_s: float
    noise_floor_rss_bytes: int
    tasks: tuple[TaskDelta, ...]
    counters: tuple[CounterDelta, ...]

    @property
    def counts(self) -> tuple[CounterDelta, ...]:
        """The counters a table shows (the phase timings are the phase comparison's)."""
        return tuple(c for c in self.counters if is_count(c.name))

    @property
    def regressions(self) -> tuple[TaskDelta, ...]:
        return tuple(t for t in self.tasks if t.time_regressed or t.memory_regressed)

    @property
    def compared(self) -> tuple[TaskDelta, ...]:
        """The tasks that could regress: those that ran successfully in both runs."""
        return tuple(t for t in self.tasks if t.old_status == RAN and t.new_status == RAN)


def percent_change(old: float | None, new: float | None) -> float | None:
    """(new - old) / old in percent; None when undefined (missing or zero old)."""
    if old is None or new is None or old <= 0:
        return None
    return (new - old) / old * 100.0


def grew_beyond(old: float | None, new: float | None, threshold_pct: float, floor: float) -> bool:
    """True when `new` exceeds `old` by more than `threshold_pct` % and by at least `floor`."""
    if old is None or new is None:
        return False
    growth = new - old
    if growth <= 0 or growth < floor:
        return False
    if old <= 0:
        return True
    return growth / old * 100.0 > threshold_pct


def compare_runs(old_run: str, old: Sequence[TaskRecord], old_wall_s: float | None,
                 new_run: str, new: Sequence[TaskRecord], new_wall_s: float | None, *,
                 threshold_pct: float = DEFAULT_THRESHOLD_PCT,
                 noise_floor_s: float = NOISE_FLOOR_S,
                 noise_floor_rss_bytes: int = NOISE_FLOOR_RSS_BYTES) -> Comparison:
    """Per-task deltas of `new` against `old`, regressions flagged (module docstring)."""
    old_by_name = {r.name: r for r in old}
    new_by_name = {r.name: r for r in new}
    names = list(new_by_name) + [n for n in old_by_name if n not in new_by_name]
    deltas = []
    for name in sorted(names):
        before, after = old_by_name.get(name), new_by_name.get(name)
        comparable = (before is not None and after is not None
                      and before.status == RAN and after.status == RAN)
        old_wall = _wall(before)
        new_wall = _wall(after)
        old_rss = before.peak_rss_bytes if before else None
        new_rss = after.peak_rss_bytes if after else None
        deltas.append(TaskDelta(
            name=name,
            old_status=before.status if before else None,
            new_status=after.status if after else None,
            old_wall_s=old_wall,
            new_wall_s=new_wall,
            old_peak_rss_bytes=old_rss,
            new_peak_rss_bytes=new_rss,
            time_regressed=comparable and grew_beyond(old_wall, new_wall, threshold_pct, noise_floor_s),
            memory_regressed=comparable and grew_beyond(
                old_rss, new_rss, threshold_pct, noise_floor_rss_bytes),
        ))
    old_counters, new_counters = summed_counters(old), summed_counters(new)
    counter_names = [n for n in COUNTER_NAMES if n in old_counters or n in new_counters]
    counter_names += sorted((set(old_counters) | set(new_counters)) - set(COUNTER_NAMES))
    counters = tuple(CounterDelta(n, old_counters.get(n, 0.0), new_counters.get(n, 0.0))
                     for n in counter_names)
    return Comparison(old_run, new_run, old_wall_s, new_wall_s, threshold_pct, noise_floor_s,
                      noise_floor_rss_bytes, tuple(deltas), counters)


def _wall(record: TaskRecord | None) -> float | None:
    # A task that did not execute took no time in that run: 0, so the
    # before/after table shows what a warm run saved.
    if record is None:
        return None
    return record.wall_s if record.status in EXECUTED else 0.0
