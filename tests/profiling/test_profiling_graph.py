"""The complete task graph: recorded from a real doit run, analysed with known durations.

The dodo uses every way doit orders tasks besides `task_dep`: a `setup` task,
a `calc_dep` task, a delayed creator (`create_after`) and a file that one task
writes and another reads, first undeclared, then declared as a target.  The
measured durations are replaced by hand-chosen ones so that critical path,
slack and what-if have answers worked out by hand (see `DURATIONS`).
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.profiling.conftest import by_name
from doit_conductor.report.dag import build_graph, concurrency_groups, cpm_timings, critical_path
from doit_conductor.report.schedule import what_if

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

GRAPH_DODO = '''
import os
from doit import create_after


DECLARED = os.path.exists("declare.flag")

def write_list():
    with open("list.txt", "w") as out:
        out.write("a\\nb\\n")

def task_gen():
    """writes list.txt (declared as a target only when declare.flag exists)"""
    return {"actions": [write_list], "targets": ["list.txt"] if DECLARED else [],
            "uptodate": [False]}

def task_serve():
    """a setup task of `use`"""
    return {"actions": ["echo serving"]}

def scan():
    return {"file_dep": ["dodo.py"]}

def task_scan():
    """a calc_dep task of `use`"""
    return {"actions": [scan]}

def task_use():
    """reads list.txt"""
    return {"actions": ["cat list.txt"], "file_dep": ["list.txt"], "setup": ["serve"],
            "calc_dep": ["scan"], "uptodate": [False]}

@create_after(executed="gen")
def task_made():
    """created once gen ran"""
    for name in ("a", "b"):
        yield {"name": name, "actions": ["echo " + name], "uptodate": [False]}
'''

# Hand-chosen durations (s) and dispatch order (start offsets rank the what-if's ready queue).
DURATIONS = {"gen": 5, "scan": 1, "serve": 3, "use": 1, "made:a": 4, "made:b": 1, "made": 0}
STARTS = {"gen": 0, "scan": 1, "serve": 2, "made:a": 3, "made:b": 4, "use": 5, "made": 6}


def with_durations(records):
    """The recorded graph with the hand-chosen durations (the run's own edges kept)."""
    return [replace(r, status="ran", wall_s=DURATIONS[r.name], start=float(STARTS[r.name]),
                    end=float(STARTS[r.name] + DURATIONS[r.name])) for r in records]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Run 1 with list.txt undeclared, run 2 with it declared; their records by name."""
    from tests.profiling.conftest import Project
    project = Project(tmp_path_factory.mktemp("graph") / "proj")
    project.write_dodo(GRAPH_DODO)
    (project.path / "list.txt").write_text("from before\n")  # run 1 reads it undeclared
    first = project.doit("--reporter", "conductor")
    assert first.returncode == 0, first.stdout + first.stderr
    undeclared = by_name(project.last_run())
    (project.path / "declare.flag").write_text("")
    second = project.doit("--reporter", "conductor")
    assert second.returncode == 0, second.stdout + second.stderr
    return undeclared, by_name(project.last_run())


def test_records_hold_what_doit_knows(two_runs):
    undeclared, declared = two_runs
    use = declared["use"]
    assert use.setup == ("serve",)
    assert use.calc_dep == ("scan",)
    assert use.file_dep == ("dodo.py", "list.txt")  # dodo.py came from the calc_dep
    assert declared["gen"].targets == ("list.txt",) and undeclared["gen"].targets == ()
    for name in ("made", "made:a", "made:b"):
        assert declared[name].create_after == "gen", name
    assert declared["gen"].create_after is None and use.create_after is None


def test_graph_has_every_kind_of_edge(two_runs):
    _, declared = two_runs
    graph = build_graph(with_durations(declared.values()))
    assert set(graph.deps["use"]) == {"gen", "serve", "scan"}
    assert set(graph.deps["made:a"]) == {"gen"} and set(graph.deps["made:b"]) == {"gen"}
    assert set(graph.deps["made"]) == {"gen", "made:a", "made:b"}
    # doit starts use's setup task once use's other dependencies are done,
    # unless it ran on its own: serve (a default task) started at 2, before gen
    # ended, after scan
    assert set(graph.deps["serve"]) == {"scan"}
    groups = {g.level: set(g.tasks) for g in concurrency_groups(graph)}
    assert groups == {0: {"gen", "scan"}, 1: {"serve", "made:a", "made:b"}, 2: {"use", "made"}}


def test_critical_path_slack_and_what_if_match_the_hand_computed_answers(two_runs):
    _, declared = two_runs
    graph = build_graph(with_durations(declared.values()))
    timings = cpm_timings(graph)
    path = critical_path(graph, timings)
    assert path.tasks == ("gen", "made:a") and path.duration_s == 9
    # serve (3 s) runs after scan, from 1 to 4; use can start at 5 (after gen)
    # and must finish by 9: 3 s of slack; serve (must finish by use's latest
    # start 8) has 4, scan (by serve's latest start 5) 4, made:b 3.
    assert {n: t.slack_s for n, t in timings.items()} == {
        "gen": 0, "made:a": 0, "made": 0, "use": 3, "serve": 4, "scan": 4, "made:b": 3}
    assert timings["use"].earliest_start_s == 5 and timings["made:a"].earliest_start_s == 5
    # 1 worker: every task in turn, 15 s.  2 workers: gen|scan, serve on the
    # second from 1 to 4, then at 5 made:a | made:b, use from 6 to 7: done at 9.
    predicted = {w.workers: w.predicted_wall_s for w in what_if(graph, (1, 2, 8))}
    assert predicted == {1: 15, 2: 9, 8: 9}


def test_the_analysed_run_decides_the_file_edge(two_runs):
    undeclared, declared = two_runs
    before = build_graph(with_durations(undeclared.values()))
    after = build_graph(with_durations(declared.values()))
    assert "gen" not in before.deps["use"] and "gen" in after.deps["use"]
    # only scan (1 s) and then serve (3 s) held it back
    assert cpm_timings(before)["use"].earliest_start_s == 4
    assert cpm_timings(before)["use"].slack_s == 4
