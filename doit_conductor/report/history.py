"""Each task's duration across several runs, and the cache hit rate per run."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from doit_conductor.profiling.records import FAILED, TaskRecord
from doit_conductor.report.counter_summary import cache_hit_rate, summed_counters
from doit_conductor.report.dag import EXECUTED


@dataclass(frozen=True, slots=True)
class TaskHistory:
    """One task's wall time per run, oldest first; None where it did not execute."""

    name: str
    wall_s: tuple[float | None, ...]


# What made a run's wall time unlike a build's, so a history does not read its
# short wall as a fast build.
OK = "ok"                     # completed, executed work, nothing failed
INTERRUPTED = "interrupted"   # never completed (Ctrl-C, killed): its wall covers part of it
RUN_FAILED = "failed"         # a task failed: what depended on it did not run
NO_OP = "no-op"               # executed nothing (all up to date)
# How the reports mark such a run's wall time, and say why.
STATE_MARKS = {INTERRUPTED: "I", RUN_FAILED: "F", NO_OP: "N"}
STATE_NOTES = {INTERRUPTED: "interrupted: its wall covers part of a build",
               RUN_FAILED: "failed: tasks after the failure did not run",
               NO_OP: "no-op: nothing executed"}


def run_state(completed: bool, records: Sequence[TaskRecord]) -> str:
    """The run's state for a history (the first that applies of the three above)."""
    if not completed:
        return INTERRUPTED
    if any(r.status == FAILED for r in records):
        return RUN_FAILED
    if records and not any(r.status in EXECUTED for r in records):
        return NO_OP
    return OK


@dataclass(frozen=True, slots=True)
class History:
    run_ids: tuple[str, ...]
    run_wall_s: tuple[float | None, ...]
    cache_hit_rates: tuple[float | None, ...]
    tasks: tuple[TaskHistory, ...]
    requested: int = 0  # how many runs were asked for (0: as many as given)
    skipped: int = 0    # of the runs looked at, how many could not be read
    run_states: tuple[str, ...] = ()  # per run, `run_state`; () when not known

    @property
    def shortfall(self) -> str | None:
        """Why fewer runs are shown than were asked for (None when they all are)."""
        if not self.requested or len(self.run_ids) >= self.requested:
            return None
        why = f"only {len(self.run_ids) + self.skipped} run(s) are recorded"
        if self.skipped:
            why += f" and {self.skipped} of them could not be read"
        return f"{len(self.run_ids)} of the {self.requested} asked for: {why}"


def history(runs: Sequence[tuple[str, float | None, Sequence[TaskRecord]]], *,
            requested: int = 0, skipped: int = 0,
            completed: Sequence[bool] | None = None) -> History:
    """History over `runs` given oldest first as (run id, run wall_s, task records);
    `completed`: per run, whether it completed (marks interrupted, failed and no-op runs).

    Tasks are listed by name; a task absent from a run, or up-to-date in it,
    has no duration there (None), so a warm run does not read as "0 s faster".
    """
    walls: dict[str, list[float | None]] = {}
    for index, (_, _, records) in enumerate(runs):
        for record in records:
            column = walls.setdefault(record.name, [None] * len(runs))
            if record.status in EXECUTED:
                column[index] = record.wall_s
    return History(
        run_ids=tuple(run_id for run_id, _, _ in runs),
        run_wall_s=tuple(wall for _, wall, _ in runs),
        cache_hit_rates=tuple(cache_hit_rate(summed_counters(records)) for _, _, records in runs),
        tasks=tuple(TaskHistory(name, tuple(walls[name])) for name in sorted(walls)),
        requested=requested, skipped=skipped,
        run_states=() if completed is None else tuple(
            run_state(done, records) for done, (_, _, records) in zip(completed, runs)),
    )
