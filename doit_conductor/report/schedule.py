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
  transfer), so predictions are a lower bound on what doit will achieve;
  unless `task_overhead_s` is given, which is added to every task that
  executes (e.g. a Dask cluster's dispatch cost per task, measured by
  `benchmarks/test_scaleout_bench.py`): "N workers on the cluster".

Pure functions: no I/O, no clocks.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from doit_conductor.report.dag import TaskGraph

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


class _Plan:
    """The graph as arrays indexed by dispatch rank: the simulation's hot loop
    then compares and hashes small ints instead of task names."""

    __slots__ = ("names", "durations", "successors", "deps")

    def __init__(self, graph: TaskGraph, task_overhead_s: float = 0.0) -> None:
        self.names = sorted(graph.rank, key=graph.rank.__getitem__)
        rank = graph.rank
        self.durations = [d + task_overhead_s if d > 0.0 else d
                          for d in (graph.durations[n] for n in self.names)]
        self.successors = [[rank[s] for s in graph.successors[n]] for n in self.names]
        self.deps = [len(graph.deps[n]) for n in self.names]


def simulate_schedule(graph: TaskGraph, workers: int) -> Schedule:
    """Replay `graph` on `workers` workers; see the module docstring for the policy."""
    plan = _Plan(graph)
    wall, starts, held_by = _simulate(plan, workers)
    slots = {name: Slot(starts[task], starts[task] + plan.durations[task], held_by[task])
             for task, name in enumerate(plan.names)}
    return Schedule(workers, wall, slots)


def _simulate(plan: _Plan, workers: int) -> tuple[float, list[float], list[int | None]]:
    """Predicted wall time, and per task (by rank) its start and the worker it held."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    durations, successors = plan.durations, plan.successors
    pending = list(plan.deps)
    ready: list[int] = []  # tasks that need a worker; a task is its dispatch rank
    free = list(range(workers))
    running: list[tuple[float, int, int]] = []  # (end, task, worker)
    starts: list[float] = [0.0] * len(pending)
    held_by: list[int | None] = [None] * len(pending)
    now = 0.0

    def release(tasks: list[int]) -> None:
        # Weightless tasks complete on the spot (start = end = now, no worker),
        # which may release their dependants too.
        while tasks:
            task = tasks.pop()
            if durations[task] > 0.0:
                heapq.heappush(ready, task)
                continue
            starts[task] = now
            for dependant in successors[task]:
                pending[dependant] -= 1
                if pending[dependant] == 0:
                    tasks.append(dependant)

    release([task for task, count in enumerate(pending) if count == 0])
    while True:
        while ready and free:
            task = heapq.heappop(ready)
            worker = heapq.heappop(free)
            starts[task] = now
            held_by[task] = worker
            heapq.heappush(running, (now + durations[task], task, worker))
        if not running:
            break
        # Advance to the next completion; free every worker finishing then.
        now = running[0][0]
        unblocked = []
        while running and running[0][0] <= now:
            _, task, worker = heapq.heappop(running)
            heapq.heappush(free, worker)
            for dependant in successors[task]:
                pending[dependant] -= 1
                if pending[dependant] == 0:
                    unblocked.append(dependant)
        release(unblocked)
    # The clock stops at the last completion: that is the predicted wall time.
    return now, starts, held_by


def what_if(graph: TaskGraph, workers: Iterable[int], measured_workers: int | None = None,
            measured_wall_s: float | None = None, task_overhead_s: float = 0.0) -> list[WhatIf]:
    """Predicted wall time per worker count, ascending.

    The measured run's worker count is always included and carries the run's
    actual wall time next to the prediction.  `task_overhead_s` is added to
    every executed task (see the module doc).
    """
    counts = set(workers)
    if measured_workers is not None and measured_workers >= 1:
        counts.add(measured_workers)
    plan = _Plan(graph, task_overhead_s)
    rows = []
    for count in sorted(counts):
        actual = measured_wall_s if count == measured_workers else None
        rows.append(WhatIf(count, _simulate(plan, count)[0], actual))
    return rows
