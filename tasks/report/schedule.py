"""What-if: the measured DAG and durations replayed on a different number of workers.

The simulation is list scheduling, the way doit's parallel dispatcher works:

* a task is *ready* when every task it depends on has finished;
* whenever a worker is free and tasks are ready, the ready task that comes
  first in the measured run's dispatch order (recorded start time, then name;
  see `dag.dispatch_rank`) starts on the free worker with the lowest number;
* tasks that did not execute (up-to-date, ignored, not run) weigh 0 and hold no
  worker: doit decides them in the main process, so they finish the moment
  they are ready;
* no overheads are modelled (process start, up-to-date checks, result
  transfer), so predictions are a lower bound on what doit will achieve.

Pure functions: no I/O, no clocks.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from tasks.report.dag import TaskGraph

DEFAULT_WORKERS = (1, 2, 4, 8)


@dataclass(frozen=True, slots=True)
class Slot:
    """Where and when one task runs in a simulated schedule (worker None: held none)."""

    start_s: float
    end_s: float
    worker: int | None


@dataclass(frozen=True, slots=True)
class Schedule:
    workers: int
    wall_s: float
    slots: dict[str, Slot]


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A predicted wall time; `actual_wall_s` is set for the measured run's worker count."""

    workers: int
    predicted_wall_s: float
    actual_wall_s: float | None = None


def simulate_schedule(graph: TaskGraph, workers: int) -> Schedule:
    """Replay `graph` on `workers` workers; see the module docstring for the policy."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    durations, rank, successors = graph.durations, graph.rank, graph.successors
    pending = {name: len(deps) for name, deps in graph.deps.items()}
    ready: list[tuple[int, str]] = []  # tasks that need a worker, by dispatch rank
    free = list(range(workers))
    running: list[tuple[float, int, str, int]] = []  # (end, rank, name, worker)
    slots: dict[str, Slot] = {}
    now = 0.0

    def release(names: Iterable[str]) -> None:
        # Weightless tasks complete on the spot, which may release their dependants too.
        stack = list(names)
        while stack:
            name = stack.pop()
            if durations[name] > 0.0:
                heapq.heappush(ready, (rank[name], name))
                continue
            slots[name] = Slot(now, now, None)
            for dependant in successors[name]:
                pending[dependant] -= 1
                if pending[dependant] == 0:
                    stack.append(dependant)

    release([name for name, count in pending.items() if count == 0])
    while True:
        while ready and free:
            _, name = heapq.heappop(ready)
            worker = heapq.heappop(free)
            end = now + durations[name]
            slots[name] = Slot(now, end, worker)
            heapq.heappush(running, (end, rank[name], name, worker))
        if not running:
            break
        # Advance to the next completion; free every worker finishing then.
        now = running[0][0]
        unblocked = []
        while running and running[0][0] <= now:
            _, _, name, worker = heapq.heappop(running)
            heapq.heappush(free, worker)
            for dependant in successors[name]:
                pending[dependant] -= 1
                if pending[dependant] == 0:
                    unblocked.append(dependant)
        release(unblocked)
    # The clock stops at the last completion: that is the predicted wall time.
    return Schedule(workers, now, slots)


def what_if(graph: TaskGraph, workers: Iterable[int], measured_workers: int | None = None,
            measured_wall_s: float | None = None) -> list[WhatIf]:
    """Predicted wall time per worker count, ascending.

    The measured run's worker count is always included and carries the run's
    actual wall time next to the prediction.
    """
    counts = set(workers)
    if measured_workers is not None and measured_workers >= 1:
        counts.add(measured_workers)
    rows = []
    for count in sorted(counts):
        actual = measured_wall_s if count == measured_workers else None
        rows.append(WhatIf(count, simulate_schedule(graph, count).wall_s, actual))
    return rows
