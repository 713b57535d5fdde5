"""What a run could select decides whether unlisted sub-tasks are created."""
from __future__ import annotations

from doit_conductor.glue import selection


def test_outside_a_run_every_task_is_created():
    assert selection.may_select("codegen")


def test_a_run_creates_unlisted_sub_tasks_only_when_it_could_select_one():
    cases = {(): False, ("codegen",): False, ("-n", "2", "codegen"): False,
             ("docs", "checksums"): False, ("codegen:orders",): True,
             ("codegen:*",): True, ("*",): True, ("codegenx:orders",): False}
    for args, expected in cases.items():
        with selection.requesting(list(args)):
            assert selection.may_select("codegen") is expected, args
        assert selection.may_select("codegen"), "the run's selection outlived it"
