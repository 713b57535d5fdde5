"""What a Dask worker runs for one doit task (imported on the worker).

`run_batch` is submitted by `dask_runner.DaskRunner` with a few tasks pickled by
the client (cloudpickle, as doit pickles `-n` tasks) and returns, per task, what
doit's `MRunner` workers put on their result queue, so the client processes it
exactly as doit does.  Output is always captured here and written by the
client, so a task's stdout/stderr reach the console that ran `doit`, not the
worker's log.

Two ways for files to travel (`Workspace`):
* shared: the task runs in the project directory, which every worker sees at
  the same path;
* ship: the task runs in a fresh scratch directory holding only its declared
  inputs; its declared targets come back as bytes with their sha256, and any
  other file it wrote there is an error naming the file.
"""
from __future__ import annotations

import contextlib
import io
import os
import pickle
import platform
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field

from doit_conductor.scale.ship import ShippedTarget, Workspace, collect, materialise

def _fingerprint() -> str:
    from doit_conductor.scale.action_key import code_digest
    return code_digest("doit_conductor")


# The doit-conductor this process imported.  A long-lived `dask worker` keeps
# the code it first imported: after an upgrade or an edit it would run old
# codegen under keys that name the new one (see `DaskRunner`).
FINGERPRINT = _fingerprint()


def fingerprint() -> str:
    return FINGERPRINT


# One task at a time per worker process: the working directory and the probe's
# process-wide readings belong to it (workers run with one thread each).
_RUNNING = threading.Lock()


@dataclass(frozen=True, slots=True)
class JobResult:
    """A task's outcome as doit's MRunner result dict, plus where it ran."""

    result: dict
    host: str
    pid: int
    targets: tuple[ShippedTarget, ...] = field(default_factory=tuple)
    warnings: str = ""   # what the action cache said here, for the client's console


def run_batch(tasks_pickle: bytes, workspaces: list[Workspace], keep_going: bool
              ) -> list[JobResult]:
    """Run several doit tasks, pickled together by the client (a function or
    setting they share travels once), one after the other: one Dask task, one
    round trip to the scheduler for all of them.  The first failure ends the
    batch unless `keep_going` (doit's --continue).  The results of the tasks run."""
    shared = workspaces[0]   # a batch shares its import paths and its cache
    with _RUNNING:
        for path in shared.import_paths:
            if path not in sys.path:
                sys.path.insert(0, path)
        cache = _cache_for(shared.cache_url)
        tasks = pickle.loads(tasks_pickle)
        results = []
        for task, workspace in zip(tasks, workspaces):
            results.append(_run_one(task, workspace, cache))
            if not keep_going and results[-1].result.get("failure") is not None:
                break
        return results


def _run_one(task, workspace: Workspace, cache=None) -> JobResult:
    """Run one doit task under the probe, in the project or a scratch directory."""
    previous = os.getcwd()
    scratch = None
    try:
        if workspace.inputs is None:
            os.chdir(workspace.root)
        else:
            scratch = tempfile.mkdtemp(prefix="conductor-ship-")
            materialise(scratch, workspace.inputs)
            os.chdir(scratch)
        warnings = io.StringIO()
        with contextlib.redirect_stderr(warnings):   # actions capture their own output
            result, failure = _execute(task, cache)
        targets: tuple[ShippedTarget, ...] = ()
        if scratch is not None and failure is None:
            targets, refused = collect(scratch, task.targets, workspace)
            if refused is not None:
                from doit.exceptions import TaskFailed
                failure = result["failure"] = TaskFailed(refused)
        return JobResult(result, platform.node(), os.getpid(), targets, warnings.getvalue())
    finally:
        os.chdir(previous)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


# This worker process's action caches, by URL: a long-lived worker may serve
# clients with different caches, one batch at a time.
_CACHES: dict = {}


def _cache_for(url: str | None):
    """The action cache at `url` for this process (None: the run has none)."""
    if url is None:
        return None
    if url not in _CACHES or _CACHES[url].store is None:   # retried per batch once down
        from doit_conductor.glue.cached_execution import ActionCache
        _CACHES[url] = ActionCache(url)
    return _CACHES[url]


def _execute(task, cache=None) -> tuple[dict, object]:
    """Run the task through the execution chain; with an action cache, a hit is
    restored instead and a miss's result is stored (the client computed the key)."""
    from doit.task import Stream

    from doit_conductor.glue import execution
    failure = execution.execute_task(
        task, lambda: task.execute(Stream(0, force_global=True)), lambda: None, cache,
        host=platform.node())
    result = {"name": task.name, "task": task.pickle_safe_dict(),
              "out": [action.out for action in task.actions],
              "err": [action.err for action in task.actions]}
    if failure is not None:
        result["failure"] = failure
    return result, failure


