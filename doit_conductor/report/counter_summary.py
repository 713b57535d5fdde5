"""Counters tasks record (template cache, files rendered/compiled/...), summed per run."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from doit_conductor.profiling.phases import PHASES, cpu_counter, wall_counter
from doit_conductor.profiling.records import TaskRecord

HITS = "template_cache_hits"
MISSES = "template_cache_misses"
# The counters the workflow records, in the order reports show them; any other
# counter a task records is shown after these, by name.
COUNTER_NAMES = (HITS, MISSES, "files_rendered", "files_compiled", "files_skipped",
                 "files_pruned")
# Task 8's phase timings (seconds, kept as counters): the phase section shows
# them, so the counters tables leave them out rather than repeat them as raw floats.
PHASE_TIMINGS = frozenset([*map(wall_counter, PHASES), *map(cpu_counter, PHASES)])


def is_count(name: str) -> bool:
    """Whether a counters table shows `name` (everything but the phase timings)."""
    return name not in PHASE_TIMINGS


@dataclass(frozen=True, slots=True)
class CounterSummary:
    """A run's counters summed over its tasks, and the template cache hit rate."""

    totals: dict[str, float]
    cache_hit_rate: float | None

    @property
    def counts(self) -> dict[str, float]:
        """The totals a counters table shows (the phase timings are the phase section's)."""
        return {name: value for name, value in self.totals.items() if is_count(name)}


def summed_counters(records: Sequence[TaskRecord]) -> dict[str, float]:
    """Every counter summed over the run's tasks (numbers only; others are ignored)."""
    totals: dict[str, float] = {}
    for record in records:
        for name, value in record.counters.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + value
    return totals


def cache_hit_rate(totals: Mapping[str, float]) -> float | None:
    """hits / (hits + misses), None when the cache was not consulted."""
    hits, misses = totals.get(HITS, 0), totals.get(MISSES, 0)
    return hits / (hits + misses) if hits + misses > 0 else None


def counter_summary(records: Sequence[TaskRecord]) -> CounterSummary:
    totals = summed_counters(records)
    ordered = {n: totals[n] for n in COUNTER_NAMES if n in totals}
    ordered.update({n: totals[n] for n in sorted(totals) if n not in ordered})
    return CounterSummary(ordered, cache_hit_rate(totals))
