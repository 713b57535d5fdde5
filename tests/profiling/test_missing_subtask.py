"""`doit codegen:nosuch`: a sub-task its creator never makes is an error, not a task that "ran".

doit stands in a placeholder for a `basename:sub` of a delayed creator and,
when the creator makes no task of that name, runs the empty placeholder and
exits 0; the conductor reporter then recorded `codegen:nosuch` as ran.
"""
from __future__ import annotations

import pytest

from tests.support.projects import Project

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "two workers"])
def test_a_sub_task_that_does_not_exist_fails_and_leaves_no_record(built: Project, args):
    result = built.doit(*args, "codegen:nosuch")
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "nosuch" in line]
    assert lines == ["ERROR: no such task: codegen created no sub-task named 'codegen:nosuch'"]
    records = built.last_run()
    assert "codegen:nosuch" not in records
    assert records["plan-codegen"].status == "up-to-date"  # the rest is recorded as before
    # a real sub-task named the same way still works
    assert built.doit(*args, "codegen:currency").returncode == 0
    assert built.statuses("codegen:") == {"codegen:currency": "up-to-date"}
