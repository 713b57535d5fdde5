"""Critical path, slack and concurrency groups on DAGs with known answers."""
from __future__ import annotations

import pytest
from tests.support.records import record

from doit_conductor.profiling.records import FAILED, UP_TO_DATE, RecordError
from doit_conductor.report.dag import build_graph, concurrency_groups, cpm_timings, critical_path


def analyse(records):
    graph = build_graph(records)
    timings = cpm_timings(graph)
    return graph, timings, critical_path(graph, timings)


def test_chain_is_the_critical_path_with_no_slack():
    _, timings, path = analyse([record("a", 1), record("b", 2, ["a"]), record("c", 3, ["b"])])
    assert path.tasks == ("a", "b", "c")
    assert path.durations_s == (1, 2, 3)
    assert path.duration_s == 6
    assert {n: t.slack_s for n, t in timings.items()} == {"a": 0, "b": 0, "c": 0}
    assert timings["c"].earliest_start_s == 3


def test_diamond_short_branch_has_slack():
    # a(1) -> b(5) -> d(1);  a -> c(2) -> d
    records = [record("a", 1), record("b", 5, ["a"]), record("c", 2, ["a"]),
               record("d", 1, ["b", "c"])]
    _, timings, path = analyse(records)
    assert path.tasks == ("a", "b", "d")
    assert path.duration_s == 7
    assert timings["c"].slack_s == pytest.approx(3)
    assert timings["b"].slack_s == 0
    assert timings["d"].earliest_start_s == 6


def test_independent_chains_slack_is_against_the_longest():
    records = [record("x1", 2), record("x2", 2, ["x1"]), record("y1", 1), record("y2", 1, ["y1"]),
               record("z", 0.5)]
    _, timings, path = analyse(records)
    assert path.tasks == ("x1", "x2")
    assert path.duration_s == 4
    assert timings["y1"].slack_s == 2
    assert timings["y2"].slack_s == 2
    assert timings["z"].slack_s == 3.5


def test_ties_break_by_name_whatever_the_record_order():
    # Two branches of equal length: b and c both 2 s; tie-break picks the name that sorts first.
    records = [record("a", 1), record("c", 2, ["a"]), record("b", 2, ["a"]),
               record("d", 1, ["c", "b"])]
    for ordering in (records, list(reversed(records))):
        _, timings, path = analyse(ordering)
        assert path.tasks == ("a", "b", "d")
        assert timings["b"].slack_s == 0 and timings["c"].slack_s == 0


def test_ties_prefer_the_longer_task_before_the_name():
    # d can start at 3 both via a(1)+b(2) and via c(3): c is longer, so c is on the path.
    records = [record("a", 1), record("b", 2, ["a"]), record("c", 3), record("d", 1, ["b", "c"])]
    _, _, path = analyse(records)
    assert path.tasks == ("c", "d")
    assert path.duration_s == 4


def test_float_sums_that_tie_are_ties():
    # 0.1 + 0.2 != 0.3 in floating point; the two branches are still equally long.
    records = [record("a", 0.1), record("b", 0.2, ["a"]), record("c", 0.3), record("d", 1, ["b", "c"])]
    _, timings, path = analyse(records)
    assert path.tasks == ("c", "d")
    assert timings["a"].slack_s == 0 and timings["b"].slack_s == 0


def test_tasks_that_did_not_execute_weigh_nothing_and_are_not_listed():
    records = [record("gen", 5, status=UP_TO_DATE), record("build", 2, ["gen"]),
               record("test", 1, ["build"]), record("lint", 2.5)]
    _, timings, path = analyse(records)
    assert path.tasks == ("build", "test")
    assert path.duration_s == 3
    assert timings["lint"].slack_s == 0.5


def test_failed_tasks_held_a_worker_and_count():
    _, _, path = analyse([record("a", 4, status=FAILED), record("b", 1)])
    assert path.tasks == ("a",)


def test_group_task_depends_on_its_subtasks():
    records = [record("render:x", 3), record("render:y", 1), record("render", 0),
               record("package", 1, ["render"])]
    graph, timings, path = analyse(records)
    assert set(graph.deps["render"]) == {"render:x", "render:y"}
    assert path.tasks == ("render:x", "package")  # the group itself took no time
    assert path.duration_s == 4
    assert timings["render:y"].slack_s == 2


def test_unknown_deps_are_ignored_and_cycles_are_record_errors():
    graph = build_graph([record("a", 1, ["not-in-run"])])
    assert graph.deps["a"] == ()
    with pytest.raises(RecordError, match="cycle"):
        build_graph([record("a", 1, ["b"]), record("b", 1, ["a"])])
    with pytest.raises(RecordError, match="more than once"):
        build_graph([record("a", 1), record("a", 2)])


def test_empty_run_has_an_empty_path():
    _, timings, path = analyse([])
    assert path.tasks == () and path.duration_s == 0 and timings == {}


def test_concurrency_groups_are_dependency_levels():
    records = [record("a", 1), record("b", 5, ["a"]), record("c", 2, ["a"]),
               record("d", 1, ["b", "c"]), record("e", 3)]
    groups = concurrency_groups(build_graph(records))
    assert [(g.level, g.tasks) for g in groups] == [(0, ("a", "e")), (1, ("b", "c")), (2, ("d",))]
    assert groups[1].summed_s == 7 and groups[1].longest_s == 5


def test_every_kind_of_edge_orders_the_graph():
    # a writes out.txt (declared target), b reads it; c is a setup task of b,
    # d a calc_dep of b; e was created by a delayed creator waiting for a.
    records = [record("a", 2, targets=("./out.txt",)), record("c", 1), record("d", 1),
               record("b", 1, file_dep=("out.txt", "src.txt"), setup=("c",), calc_dep=("d",)),
               record("e", 3, create_after="a")]
    graph, timings, path = analyse(records)
    assert set(graph.deps["b"]) == {"a", "c", "d"}
    assert set(graph.deps["c"]) == {"a", "d"}   # doit starts a setup task after the rest
    assert graph.deps["e"] == ("a",)
    assert path.tasks == ("a", "e") and path.duration_s == 5
    assert timings["c"].earliest_start_s == 2
    assert timings["b"].earliest_start_s == 3 and timings["b"].slack_s == 1


def test_a_setup_task_waits_for_the_other_dependencies_of_its_task():
    """doit runs f's setup task s only once e, f's task_dep, is done: the path
    is e, s, f (a run measured 4.25 s), not e, f with s beside it."""
    records = [record("e", 2, start=0), record("s", 2, start=2),
               record("f", 0.2, ["e"], start=4, setup=("s",))]
    _, timings, path = analyse(records)
    assert path.tasks == ("e", "s", "f") and path.duration_s == pytest.approx(4.2)
    assert timings["s"].slack_s == 0


def test_a_setup_task_that_ran_on_its_own_does_not_wait():
    """s selected too (a default task): doit ran it beside e, so it is no
    chain e, s, f; the path is e, f (a run measured 2.23 s)."""
    records = [record("e", 2, start=0), record("s", 2, start=0),
               record("f", 0.2, ["e"], start=2, setup=("s",))]
    graph, _, path = analyse(records)
    assert graph.deps["s"] == ()
    assert path.duration_s == pytest.approx(2.2)


def test_a_setup_task_two_tasks_need_follows_the_first_one_in_the_run():
    records = [record("a", 1, start=0), record("b", 3, start=0), record("s", 1, start=1),
               record("x", 1, ["a"], start=2, setup=("s",)),
               record("y", 1, ["b"], start=3, setup=("s",))]
    graph, _, _ = analyse(records)
    assert graph.deps["s"] == ("a",)


def test_an_undeclared_file_is_no_edge():
    records = [record("a", 2), record("b", 1, file_dep=("out.txt",))]
    graph, timings, _ = analyse(records)
    assert graph.deps["b"] == () and timings["b"].earliest_start_s == 0
