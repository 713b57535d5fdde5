"""Task 8's five phases over a run's codegen sub-tasks, and between two runs.

Pure: task records in, frozen dataclasses out.  Each codegen sub-task records
its phases as counters (`doit_conductor.profiling.phases`); here they are
summed over the sub-tasks, set against the sub-tasks' measured wall time (what
the phases do not cover is *overhead*: doit calling the action around them),
and the slowest patterns of each phase are picked out.
"""
from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from doit_conductor.profiling.codegen_summary import CODEGEN_PREFIX
from doit_conductor.profiling.phases import PHASES, cpu_counter, wall_counter
from doit_conductor.profiling.records import FAILED, RAN, TaskRecord
from doit_conductor.report.compare import percent_change

OVERHEAD = "overhead"
SLOWEST = 3


@dataclass(frozen=True, slots=True)
class PhaseRow:
    """One phase summed over the sub-tasks; `share` of their summed wall time."""

    phase: str
    wall_s: float
    cpu_s: float
    share: float
    slowest: tuple[tuple[str, float], ...]   # (pattern, seconds), slowest first


@dataclass(frozen=True, slots=True)
class PhaseBreakdown:
    subtasks: int
    wall_s: float                      # the sub-tasks' measured wall time, summed
    phases: tuple[PhaseRow, ...]       # in PHASES order
    overhead_s: float                  # wall_s minus the phases
    overhead_share: float
    worst_overhead: tuple[str, float]  # the sub-task with the largest overhead share

    def phase(self, name: str) -> PhaseRow:
        return next(row for row in self.phases if row.phase == name)


@dataclass(frozen=True, slots=True)
class PhaseDelta:
    phase: str        # a phase, OVERHEAD or "total"
    old_s: float
    new_s: float
    delta_s: float
    delta_pct: float | None


@dataclass(frozen=True, slots=True)
class PhaseComparison:
    old_run: str
    new_run: str
    rows: tuple[PhaseDelta, ...]


def timed_subtasks(records: Sequence[TaskRecord]) -> list[TaskRecord]:
    """Codegen sub-tasks that executed and recorded their phases."""
    return [r for r in records if r.name.startswith(CODEGEN_PREFIX)
            and r.status in (RAN, FAILED) and wall_counter(PHASES[0]) in r.counters]


def subtask_overhead(record: TaskRecord) -> float:
    """The part of a sub-task's wall time its phases do not cover."""
    return record.wall_s - sum(record.counters.get(wall_counter(p), 0.0) for p in PHASES)


def pattern_seconds(timed: Sequence[TaskRecord], phase: str) -> dict[str, float]:
    """Each pattern's wall seconds in `phase`: a batch records them per pattern
    (`phase_<phase>_s:<pattern>`); a sub-task without them (one pattern per
    sub-task, before batches) is its pattern."""
    prefix = wall_counter(phase) + ":"
    found: dict[str, float] = {}
    for r in timed:
        named = [(k[len(prefix):], v) for k, v in r.counters.items() if k.startswith(prefix)]
        if named or any(k.startswith("pattern_s:") for k in r.counters):
            for name, value in named:
                found[name] = found.get(name, 0.0) + value
        else:
            name = r.name[len(CODEGEN_PREFIX):]
            found[name] = found.get(name, 0.0) + r.counters.get(wall_counter(phase), 0.0)
    return found


def codegen_phases(records: Sequence[TaskRecord], slowest: int = SLOWEST) -> PhaseBreakdown | None:
    """The five phases of Task 8 in one run; None when no sub-task recorded them."""
    timed = timed_subtasks(records)
    if not timed:
        return None
    wall = sum(r.wall_s for r in timed)
    rows = []
    for phase in PHASES:
        seconds = sum(r.counters.get(wall_counter(phase), 0.0) for r in timed)
        per_pattern = pattern_seconds(timed, phase)
        top = heapq.nsmallest(slowest, ((n, s) for n, s in per_pattern.items() if s > 0),
                              key=lambda item: (-item[1], item[0]))
        rows.append(PhaseRow(phase, seconds, sum(r.counters.get(cpu_counter(phase), 0.0)
                                                 for r in timed),
                             seconds / wall if wall > 0 else 0.0, tuple(top)))
    overhead = wall - sum(row.wall_s for row in rows)
    worst = max(timed, key=lambda r: (subtask_overhead(r) / r.wall_s if r.wall_s > 0 else 0.0,
                                      r.name))
    return PhaseBreakdown(
        subtasks=len(timed), wall_s=wall, phases=tuple(rows), overhead_s=overhead,
        overhead_share=overhead / wall if wall > 0 else 0.0,
        worst_overhead=(worst.name, subtask_overhead(worst) / worst.wall_s
                        if worst.wall_s > 0 else 0.0))


def compare_phases(old_run: str, old: PhaseBreakdown | None, new_run: str,
                   new: PhaseBreakdown | None) -> PhaseComparison | None:
    """Each phase, the overhead and the total, old against new (a run without
    codegen work counts as zero); None when neither run has phases."""
    if old is None and new is None:
        return None

    def seconds(breakdown: PhaseBreakdown | None, phase: str) -> float:
        if breakdown is None:
            return 0.0
        if phase == OVERHEAD:
            return breakdown.overhead_s
        if phase == "total":
            return breakdown.wall_s
        return breakdown.phase(phase).wall_s

    rows = []
    for phase in (*PHASES, OVERHEAD, "total"):
        before, after = seconds(old, phase), seconds(new, phase)
        rows.append(PhaseDelta(phase, before, after, after - before,
                               percent_change(before, after)))
    return PhaseComparison(old_run, new_run, tuple(rows))
