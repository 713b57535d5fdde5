"""`[tool.conductor] worker_preload`: imported once in doit's process before
`-n N` forks its workers, only when a task is about to run."""
from __future__ import annotations

import pytest

from doit_conductor.config import load_config
from doit_conductor.errors import UserError

HEAVY = """
import os
with open("imports.log", "a") as log:   # one line per process that imported me
    log.write(f"{os.getpid()}\\n")
"""

DODO = """
import os
import sys

def report(name):
    with open(f"{name}.out", "w") as out:
        out.write(f"{os.getpid()} {'heavy' in sys.modules}\\n")

def task_work():
    for name in ("a", "b", "c"):
        yield {"name": name, "actions": [(report, [name])], "file_dep": ["in.txt"],
               "targets": [f"{name}.out"]}
"""


def project(dodo_project, preload: str):
    dodo_project.write_dodo(DODO)
    root = dodo_project.path
    (root / "heavy.py").write_text(HEAVY)
    (root / "in.txt").write_text("1")
    (root / "pyproject.toml").write_text(f"[tool.conductor]\nworker_preload = [{preload}]\n")
    return root


def test_preloaded_once_before_the_fork_and_shared_by_every_worker(dodo_project):
    root = project(dodo_project, '"heavy"')
    result = dodo_project.doit("-n", "2", "--reporter", "conductor")
    assert result.returncode == 0, result.stderr
    importers = (root / "imports.log").read_text().split()
    workers = {(root / f"{name}.out").read_text().split()[0] for name in "abc"}
    assert len(importers) == 1 and importers[0] not in workers   # doit's own process
    assert all((root / f"{name}.out").read_text().split()[1] == "True" for name in "abc")
    # nothing to run: no worker is forked and nothing is imported
    (root / "imports.log").unlink()
    assert dodo_project.doit("-n", "2", "--reporter", "conductor").returncode == 0
    assert not (root / "imports.log").exists()


def test_a_module_that_cannot_be_imported_is_one_line_and_the_build_goes_on(dodo_project):
    root = project(dodo_project, '"no_such_module_here"')
    result = dodo_project.doit("-n", "2", "--reporter", "conductor")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("worker_preload: cannot import no_such_module_here") == 1
    assert all((root / f"{name}.out").exists() for name in "abc")


@pytest.mark.parametrize("value, message", [
    ('"not a module"', "worker_preload: 'not a module' is not a module name"),
    ('"json", "json"', "'worker_preload' lists an entry twice"),
])
def test_bad_entries_are_config_errors(tmp_path, value, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.conductor]\nworker_preload = [{value}]\n")
    with pytest.raises(UserError) as info:
        load_config(tmp_path)
    assert str(info.value).startswith("pyproject.toml:2: [tool.conductor]")
    assert message in str(info.value)
