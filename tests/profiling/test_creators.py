"""Which delayed creator made a task: attribution rules on doit's own Task and DelayedLoader."""
from __future__ import annotations

from doit.task import DelayedLoader, Task

from doit_conductor.glue.creators import DelayedCreators


def creator():
    """never called: the tests play doit's part"""


def placeholder(name: str, waits_for: str, creates=()) -> Task:
    return Task(name, None, loader=DelayedLoader(creator, executed=waits_for, creates=list(creates)))


def run_loader(tasks: dict, name: str, *made: str) -> None:
    """What doit's control does when a creator ran: flag its loader, add its tasks."""
    tasks[name].loader.created = True
    for new in made:
        tasks[new] = Task(new, ["true"])


def test_tasks_made_by_a_creator_come_after_what_it_waited_for():
    tasks = {"plan": Task("plan", ["true"]), "gen": placeholder("gen", "plan")}
    creators = DelayedCreators(tasks)
    assert creators.create_after("gen") == "plan"  # the placeholder, from the start
    assert creators.create_after("plan") is None
    run_loader(tasks, "gen", "gen", "gen:a", "gen:b")
    assert [creators.create_after(n) for n in ("gen", "gen:a", "gen:b")] == ["plan"] * 3


def test_two_creators_at_once_are_told_apart_by_basename_and_creates():
    tasks = {"gen": placeholder("gen", "one"), "docs": placeholder("docs", "two", ["pages"])}
    creators = DelayedCreators(tasks)
    run_loader(tasks, "gen", "gen:a")
    run_loader(tasks, "docs", "docs:x", "pages:intro")
    assert creators.create_after("gen:a") == "one"
    assert creators.create_after("docs:x") == "two"
    assert creators.create_after("pages:intro") == "two"


def test_an_unrecognised_name_goes_to_the_only_creator_that_ran():
    tasks = {"gen": placeholder("gen", "one"), "late": placeholder("late", "two")}
    creators = DelayedCreators(tasks)
    run_loader(tasks, "gen", "renamed")
    assert creators.create_after("renamed") == "one"
    run_loader(tasks, "late", "late:x")
    assert creators.create_after("late:x") == "two"
    assert creators.create_after("renamed") == "one"
