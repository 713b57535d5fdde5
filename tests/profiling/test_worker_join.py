"""`-n N` with many teardown tasks ends: doit's MRunner joined workers blocked on a full pipe."""
from __future__ import annotations

import subprocess

import pytest

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

MANY_TEARDOWNS = """
def nothing():
    return True

def task_many():
    for i in range(1500):
        yield {"name": f"t{i:04d}", "actions": [nothing], "teardown": [nothing]}
"""


def test_many_tasks_with_teardown_finish_in_process_mode(dodo_project):
    # 1,500 teardown reports (~100 bytes each) are over a pipe's 64 KiB; before the
    # fix the run never ended.
    dodo_project.write_dodo(MANY_TEARDOWNS)
    try:
        result = dodo_project.doit("-n", "2", "--reporter", "conductor", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("doit -n 2 hung joining its workers")
    assert result.returncode == 0, result.stderr
    run = dodo_project.last_run()
    assert sum(1 for r in run.tasks if r.name.startswith("many:")) == 1500
