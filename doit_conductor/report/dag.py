"""The task DAG of one run, weighted by measured durations, and what CPM says about it.

Pure functions on records: no I/O, no printing.

* Nodes are the run's task records.  A task comes after (see `task_deps`):
  its `task_dep` (doit's list, implicit deps included), its `setup` and
  `calc_dep` tasks, the task its delayed creator waited for (`create_after`),
  and the task that declares one of its `file_dep` as a target.  A `setup`
  task also comes after the other dependencies of the task that needed it
  first in the run (doit starts a task's setup tasks only once the rest of
  its dependencies are done and it is found not up to date), unless it
  started before one of them ended (selected on its own, it runs when
  ready).  Every sub-task `base:name` also comes before its group task `base`, because a
  group finishes after its sub-tasks.  Dependencies on tasks that are not in
  the run are ignored.  Only the analysed run's records are read: when two
  runs disagree about an edge, the run being analysed wins.
* Only tasks that executed (`ran` or `failed`: both held a worker) weigh their
  measured `wall_s`; up-to-date, ignored and not-run tasks weigh 0.
* Times are relative to the start of the run's DAG (0 = first task could start).
"""
from __future__ import annotations

import heapq
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from doit_conductor.profiling.records import CACHED, FAILED, RAN, RecordError, TaskRecord

# a cached task held a worker for its restore, so it weighs what that took
EXECUTED = (RAN, CACHED, FAILED)

# Sums of measured floats are compared with this tolerance: two paths whose
# lengths differ by less than a nanosecond are the same length.
EPSILON_S = 1e-9


@dataclass(frozen=True, slots=True)
class TaskGraph:
    """Tasks in a deterministic topological order, with their deps and weights."""

    order: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]
    successors: dict[str, tuple[str, ...]]
    durations: dict[str, float]
    # Dispatch priority: the order the measured run started tasks (see `dispatch_rank`).
    rank: dict[str, int]


@dataclass(frozen=True, slots=True)
class Timing:
    """CPM figures of one task: earliest start/finish and total slack."""

    earliest_start_s: float
    earliest_finish_s: float
    slack_s: float


@dataclass(frozen=True, slots=True)
class CriticalPath:
    """The longest chain of dependent executed tasks, by measured duration."""

    tasks: tuple[str, ...]
    durations_s: tuple[float, ...]
    duration_s: float


@dataclass(frozen=True, slots=True)
class ConcurrencyGroup:
    """Tasks at the same dependency depth: none depends on another, so they could run together."""

    level: int
    tasks: tuple[str, ...]
    summed_s: float
    longest_s: float


def measured_duration(record: TaskRecord) -> float:
    """The time a task held a worker: its wall time if it executed, else 0."""
    return max(record.wall_s, 0.0) if record.status in EXECUTED else 0.0


def dispatch_rank(records: Sequence[TaskRecord]) -> dict[str, int]:
    """Each task's position in the measured run's dispatch order.

    Tasks are ranked by recorded start time; tasks that never started (and ties)
    follow by name.  This is the order doit itself handed tasks to workers, so
    it is the priority the what-if scheduler uses.
    """
    never = float("inf")
    ordered = sorted(records, key=lambda r: (r.start if r.start is not None else never, r.name))
    return {record.name: index for index, record in enumerate(ordered)}


def target_producers(records: Iterable[TaskRecord]) -> dict[str, str]:
    """Which task declares each target (normalised path -> task name)."""
    producers: dict[str, str] = {}
    for record in records:
        for target in record.targets:
            producers.setdefault(_path_key(target), record.name)
    return producers


def task_deps(record: TaskRecord, producers: dict[str, str]) -> list[str]:
    """The tasks `record` comes after, in a fixed order, without duplicates.

    task_dep, setup, calc_dep, create_after, then the producers of its
    file_dep (`producers` from `target_producers`).
    """
    names = [*record.task_dep, *record.setup, *record.calc_dep]
    if record.create_after:
        names.append(record.create_after)
    for path in record.file_dep:
        producer = producers.get(_path_key(path))
        if producer is not None:
            names.append(producer)
    return list(dict.fromkeys(names))


def _path_key(path: str) -> str:
    # doit compares file_dep and targets as written; "./a" and "a" are one file.
    return posixpath.normpath(path.replace("\\", "/"))


def build_graph(records: Sequence[TaskRecord]) -> TaskGraph:
    """The run's task DAG; raises `RecordError` on duplicate names or a cycle."""
    names = [record.name for record in records]
    known: set[str] = set()
    for name in names:
        if name in known:
            raise RecordError(f"task {name!r} is recorded more than once")
        known.add(name)
    deps: dict[str, list[str]] = {name: [] for name in names}
    producers = target_producers(records)
    for record in records:
        for dep in task_deps(record, producers):
            if dep in known and dep != record.name and dep not in deps[record.name]:
                deps[record.name].append(dep)
        group, sep, _ = record.name.partition(":")
        if sep and group in known and record.name not in deps[group]:
            deps[group].append(record.name)
    rank = dispatch_rank(records)
    plain = {name: list(d) for name, d in deps.items()}
    for setup, after in _setup_waits(records, deps, rank).items():
        deps[setup].extend(dep for dep in after if dep not in deps[setup])
    try:
        order = _topological_order(deps, rank)
    except RecordError:   # a setup task its user's dependencies wait for: as declared
        deps = plain
        order = _topological_order(deps, rank)
    successors: dict[str, list[str]] = {name: [] for name in names}
    for name in order:
        for dep in deps[name]:
            successors[dep].append(name)
    return TaskGraph(
        order=order,
        deps={name: tuple(d) for name, d in deps.items()},
        successors={name: tuple(s) for name, s in successors.items()},
        durations={record.name: measured_duration(record) for record in records},
        rank=rank,
    )


def _setup_waits(records: Sequence[TaskRecord], deps: dict[str, list[str]],
                 rank: dict[str, int]) -> dict[str, list[str]]:
    """For each setup task in the run: the dependencies, besides its setup
    tasks, of the task that needed it first (by dispatch rank), that it waited
    for in the measured run.  One that started before such a dependency ended
    was not held back by it (selected on its own, doit runs it when ready)."""
    by_name = {record.name: record for record in records}
    first: dict[str, TaskRecord] = {}
    for record in sorted(records, key=lambda r: rank[r.name]):
        for setup in record.setup:
            first.setdefault(setup, record)

    def waited(setup: str, dep: str) -> bool:
        start, end = by_name[setup].start, by_name[dep].end
        return start is None or end is None or start >= end - EPSILON_S

    return {setup: [dep for dep in deps[user.name] if dep != setup and dep not in user.setup
                    and waited(setup, dep)]
            for setup, user in first.items() if setup in deps}


def _topological_order(deps: dict[str, list[str]], rank: dict[str, int]) -> tuple[str, ...]:
    """Kahn's algorithm; among ready tasks the lowest dispatch rank comes first."""
    pending = {name: len(d) for name, d in deps.items()}
    dependants: dict[str, list[str]] = {name: [] for name in deps}
    for name, ds in deps.items():
        for dep in ds:
            dependants[dep].append(name)
    ready = [(rank[name], name) for name, count in pending.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for dependant in dependants[name]:
            pending[dependant] -= 1
            if pending[dependant] == 0:
                heapq.heappush(ready, (rank[dependant], dependant))
    if len(order) != len(deps):
        stuck = sorted(name for name, count in pending.items() if count > 0)
        raise RecordError(f"task dependencies form a cycle through {stuck[0]!r}")
    return tuple(order)


def cpm_timings(graph: TaskGraph) -> dict[str, Timing]:
    """Earliest start/finish and total slack of every task (critical path method).

    Slack is latest start minus earliest start: how much longer the task could
    take, with unlimited workers, before the whole run would take longer.
    """
    earliest: dict[str, float] = {}
    finish: dict[str, float] = {}
    for name in graph.order:
        start = max((finish[dep] for dep in graph.deps[name]), default=0.0)
        earliest[name] = start
        finish[name] = start + graph.durations[name]
    length = max(finish.values(), default=0.0)
    latest_finish: dict[str, float] = {}
    for name in reversed(graph.order):
        latest_finish[name] = min(
            (latest_finish[s] - graph.durations[s] for s in graph.successors[name]), default=length)
    timings = {}
    for name in graph.order:
        slack = latest_finish[name] - finish[name]
        timings[name] = Timing(earliest[name], finish[name], slack if slack > EPSILON_S else 0.0)
    return timings


def critical_path(graph: TaskGraph, timings: dict[str, Timing]) -> CriticalPath:
    """The longest path through the DAG by measured duration.

    Walks back from the task that finishes last, each time to a dependency that
    finishes exactly when the task could start.  Ties are broken the same way at
    every step: the longer task first, then the name that sorts first.  Only
    executed tasks are listed (the others weigh 0 and would only add noise).
    """
    if not graph.order:
        return CriticalPath((), (), 0.0)
    durations = graph.durations

    def preferred(candidates: Iterable[str]) -> str:
        return min(candidates, key=lambda n: (-durations[n], n))

    length = max(t.earliest_finish_s for t in timings.values())
    current = preferred(n for n in graph.order if timings[n].earliest_finish_s >= length - EPSILON_S)
    chain = [current]
    while graph.deps[current]:
        start = timings[current].earliest_start_s
        current = preferred(
            d for d in graph.deps[current] if timings[d].earliest_finish_s >= start - EPSILON_S)
        chain.append(current)
    chain.reverse()
    tasks = tuple(name for name in chain if durations[name] > 0.0)
    return CriticalPath(tasks, tuple(durations[n] for n in tasks), length)


def concurrency_groups(graph: TaskGraph, names: Iterable[str] | None = None) -> list[ConcurrencyGroup]:
    """Tasks grouped by dependency depth (longest chain of deps below them).

    A dependency always sits at a lower depth than its dependant, so each group
    is an antichain: its tasks could all run at the same time.  `names` limits
    the listing (e.g. to executed tasks); depths still count every task.
    """
    depth: dict[str, int] = {}
    for name in graph.order:
        depth[name] = 1 + max((depth[d] for d in graph.deps[name]), default=-1)
    wanted = set(graph.order if names is None else names)
    levels: dict[int, list[str]] = {}
    for name in graph.order:
        if name in wanted:
            levels.setdefault(depth[name], []).append(name)
    groups = []
    for level in sorted(levels):
        members = sorted(levels[level])
        weights = [graph.durations[n] for n in members]
        groups.append(ConcurrencyGroup(level, tuple(members), sum(weights), max(weights)))
    return groups
