"""`doit -n 2` when cloudpickle is not importable.

doit pickles `-n` tasks with cloudpickle whenever it can import it, and Dask
(in the test extra) brings it along; a user without it gets the standard
pickle.  Both must build the workflow, so this runs it with cloudpickle hidden.
"""
from __future__ import annotations

import pytest

import subprocess
import sys

from tests.support.doit import child_env
from tests.support.projects import copy_project

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

# sys.modules[name] = None makes `import name` raise ImportError, as if absent.
HIDE_CLOUDPICKLE = ("import sys; sys.modules['cloudpickle'] = None; "
                    "import doit.runner, pickle; "
                    "assert doit.runner.pickle_dumps is pickle.dumps; "
                    "from doit.doit_cmd import DoitMain; sys.exit(DoitMain().run(sys.argv[1:]))")


def test_parallel_build_without_cloudpickle_equals_serial(built_template, tmp_path):
    project = copy_project(tmp_path / "project")
    result = subprocess.run([sys.executable, "-c", HIDE_CLOUDPICKLE, "-n", "2"],
                            cwd=project.root, capture_output=True, text=True, timeout=300,
                            env=child_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.tree() == built_template.tree()
    records = project.last_run()
    assert {r.status for r in records.values()} <= {"ran", "up-to-date"}
    assert len({r.pid for r in records.values() if r.pid}) > 1   # ran in worker processes
