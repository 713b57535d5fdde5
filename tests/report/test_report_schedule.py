"""The what-if scheduler against schedules computed by hand."""
from __future__ import annotations

import pytest
from tests.support.records import record

from doit_conductor.profiling.records import UP_TO_DATE
from doit_conductor.report.dag import build_graph, cpm_timings, critical_path
from doit_conductor.report.schedule import Slot, simulate_schedule, what_if

# Dispatch order (recorded starts): a, b, c, f, d, e.
RECORDS = [
    record("a", 3, start=0.0), record("b", 2, start=0.1), record("c", 2, start=0.2),
    record("f", 1, start=0.3), record("d", 1, ["a"], start=3.0), record("e", 4, ["b", "c"], start=4.0),
]


def test_two_workers_hand_computed():
    # t=0: a->w0, b->w1.  t=2: b ends, c->w1.  t=3: a ends, ready f,d: f (earlier rank)->w0.
    # t=4: c and f end together, e is ready: d->w0, e->w1.  t=8: e ends.
    schedule = simulate_schedule(build_graph(RECORDS), 2)
    assert schedule.wall_s == 8
    assert schedule.slots == {
        "a": Slot(0, 3, 0), "b": Slot(0, 2, 1), "c": Slot(2, 4, 1),
        "f": Slot(3, 4, 0), "d": Slot(4, 5, 0), "e": Slot(4, 8, 1),
    }


def test_one_worker_runs_everything_back_to_back():
    schedule = simulate_schedule(build_graph(RECORDS), 1)
    assert schedule.wall_s == 13
    order = sorted(schedule.slots, key=lambda n: schedule.slots[n].start_s)
    assert order == ["a", "b", "c", "f", "d", "e"]
    assert {slot.worker for slot in schedule.slots.values()} == {0}


def test_four_workers_hand_computed_reaches_the_critical_path():
    # t=0: a w0, b w1, c w2, f w3.  t=1: f ends.  t=2: b, c end; e -> lowest free w1.
    # t=3: a ends, d -> w0.  e ends at 6 = critical path b/c + e.
    graph = build_graph(RECORDS)
    schedule = simulate_schedule(graph, 4)
    assert schedule.wall_s == 6
    assert schedule.slots["e"] == Slot(2, 6, 1)
    assert schedule.slots["d"] == Slot(3, 4, 0)
    assert schedule.wall_s == critical_path(graph, cpm_timings(graph)).duration_s


def test_dependencies_are_respected_and_workers_never_overlap():
    graph = build_graph(RECORDS)
    for workers in (1, 2, 3, 4, 8):
        slots = simulate_schedule(graph, workers).slots
        for name, deps in graph.deps.items():
            assert all(slots[d].end_s <= slots[name].start_s for d in deps)
        by_worker: dict[int, list[Slot]] = {}
        for slot in slots.values():
            by_worker.setdefault(slot.worker, []).append(slot)
        for lane in by_worker.values():
            lane.sort(key=lambda s: s.start_s)
            assert all(x.end_s <= y.start_s for x, y in zip(lane, lane[1:]))


def test_tasks_that_did_not_execute_hold_no_worker():
    records = [record("cached", 5, status=UP_TO_DATE), record("x", 2, ["cached"]), record("y", 2)]
    schedule = simulate_schedule(build_graph(records), 1)
    assert schedule.wall_s == 4
    assert schedule.slots["cached"] == Slot(0, 0, None)


def test_what_if_adds_the_measured_worker_count_with_its_actual_wall_time():
    # 3 workers: t=0 a w0, b w1, c w2; t=2 f w1, e w2 (2-6); t=3 d w0 (3-4): 6 s.
    rows = what_if(build_graph(RECORDS), (1, 2, 8), measured_workers=3, measured_wall_s=9.5)
    assert [(r.workers, r.predicted_wall_s, r.actual_wall_s) for r in rows] == [
        (1, 13, None), (2, 8, None), (3, 6, 9.5), (8, 6, None)]


def test_workers_must_be_positive():
    with pytest.raises(ValueError):
        simulate_schedule(build_graph(RECORDS), 0)
