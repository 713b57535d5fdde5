"""Progress lines: a total that counts delayed sub-tasks from the start, and an
estimate of the time left that follows the run."""
from __future__ import annotations

import re

import pytest

from doit_conductor.profiling.progress import RunProgress
from tests.support.projects import Project

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow


def test_expected_sub_tasks_count_until_their_creator_runs():
    tracker = RunProgress({"plan", "gen", "check"})
    tracker.expect({"gen:a", "gen:b", "gen:old"})  # the last run's sub-tasks of `gen`
    assert tracker.total == 6
    tracker.finish("plan")
    tracker.widen({"plan", "gen", "check", "gen:a", "gen:b", "gen:new"})  # the creator ran
    tracker.settle(["gen:"])
    assert tracker.total == 6 and "gen:old" not in tracker.in_run  # dropped, gen:new counted


def test_the_estimate_follows_the_tasks_finished_so_far():
    # A cold run: nothing measured before, 100 sub-tasks of about 0.01 s on 2 workers.
    tracker = RunProgress({f"gen:{i}" for i in range(100)})
    tracker.set_previous({})
    assert tracker.left_s(2) is None  # nothing to go on yet
    tracker.finish("gen:0", 0.2)       # the first one pays the warm-up
    first = tracker.left_s(2)
    assert first == pytest.approx(99 * 0.2 / 2)
    for i in range(1, 60):
        tracker.finish(f"gen:{i}", 0.01)
    later = tracker.left_s(2)
    assert later < first / 5           # it did not stick
    assert later == pytest.approx((0.2 + 59 * 0.01) / 60 * 40 / 2)


def test_earlier_durations_are_scaled_by_this_runs_pace():
    tracker = RunProgress({"a", "b", "c"})
    tracker.set_previous({"a": 1.0, "b": 1.0, "c": 2.0})
    assert tracker.left_s(1) == 4.0
    tracker.finish("a", 0.5)           # this run is twice as fast
    assert tracker.left_s(1) == 1.5


def test_the_first_progress_line_counts_codegen_sub_tasks_from_the_last_run(built: Project):
    assert built.doit("forget", "--all").returncode == 0
    result = built.doit(check=True)
    totals = [int(n) for n in re.findall(r"^\[\d+/(\d+)\] ", result.stdout, re.M)]
    assert len(totals) >= 2 and len(set(totals)) == 1, result.stdout  # no jump
    assert totals[0] == len(built.last_run())
