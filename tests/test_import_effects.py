"""Importing the plugin (every module) and this repository's workflow does nothing
a foreign project or a test could observe: no fork hook, no read of pyproject.toml."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.projects import REPO

PROBE = """
import importlib, json, os, pkgutil, sys
hooks = []
register = os.register_at_fork
def spy(**callbacks):
    hooks.extend(f"{f.__module__}.{f.__qualname__}" for f in callbacks.values())
    return register(**callbacks)
os.register_at_fork = spy
reads = []
sys.addaudithook(lambda event, args: reads.append(str(args[0]))
                 if event == "open" and "pyproject" in str(args[0]) else None)
import doit_conductor
for module in pkgutil.walk_packages(doit_conductor.__path__, "doit_conductor."):
    importlib.import_module(module.name)
import tasks.workflow
print(json.dumps({"hooks": [h for h in hooks if h.startswith(("doit_conductor", "tasks"))],
                  "reads": reads}))
"""


@pytest.mark.slow
def test_importing_registers_no_fork_hook_and_reads_no_config():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=True)
    assert json.loads(result.stdout) == {"hooks": [], "reads": []}


LAZY_PROBE = """
import json, sys
import dodo
for value in list(vars(dodo).values()):      # what doit's loader does with every name
    hasattr(value, "create_doit_tasks")
def executed(module):   # read past a lazy module's attribute hook: only dunders until run
    return any(not key.startswith("__") for key in object.__getattribute__(module, "__dict__"))
print(json.dumps(sorted(name for name, module in list(sys.modules.items())
                        if name.startswith("tasks.steps.") and executed(module))))
"""


@pytest.mark.slow
def test_finding_the_task_creators_executes_no_lazy_module():
    # doit probes every name of dodo.py for `create_doit_tasks`: the workflow's
    # lazy modules must not be among them, or each `doit list` imports them all
    result = subprocess.run([sys.executable, "-c", LAZY_PROBE], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=True)
    assert json.loads(result.stdout) == []


INTERRUPTED_LAZY_IMPORT = """
import importlib._bootstrap_external as external, json, sys
sys.path.insert(0, sys.argv[1])
from doit_conductor.lazy import lazy_module

run = external.SourceFileLoader.exec_module
interrupted = []
def exec_module(loader, module):   # a Ctrl-C while `second` executes, once
    if module.__name__ == "second" and not interrupted:
        interrupted.append(True)
        raise KeyboardInterrupt
    return run(loader, module)
external.SourceFileLoader.exec_module = exec_module

first, second = lazy_module("first"), lazy_module("second")
outcome = []
try:
    first.value        # runs first.py: `from second import value`
    outcome.append("ran on")
except KeyboardInterrupt:
    outcome.append("interrupted")
except ImportError:
    outcome.append("import error")
outcome.append(second.value)   # the next use runs second.py anew
print(json.dumps(outcome))
"""


@pytest.mark.slow
def test_a_ctrl_c_while_a_lazy_module_runs_interrupts_and_leaves_it_whole(tmp_path):
    # importlib's lazy module stopped being lazy before its code ran, and the
    # import machinery dropped the interrupt while reading its __spec__: the
    # run went on to `cannot import name` instead of ending as interrupted
    (tmp_path / "first.py").write_text("from second import value\n")
    (tmp_path / "second.py").write_text("import time\nvalue = 1\n")
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_LAZY_IMPORT, str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout) == ["interrupted", 1], result.stdout + result.stderr
