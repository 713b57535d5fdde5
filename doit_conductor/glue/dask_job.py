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
import hashlib
import io
import os
import pickle
import platform
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

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
class Workspace:
    """Where the task runs: the shared project root, or shipped inputs."""

    root: str                                   # the project directory (client's path)
    import_paths: tuple[str, ...] = ()          # sys.path entries the task's code needs
    inputs: dict[str, bytes] | None = None      # ship mode: relative path -> content
    scratch_ok: tuple[str, ...] = ()            # ship mode: undeclared writes allowed under these
    cache_url: str | None = None                # the run's action cache, looked up here


@dataclass(frozen=True, slots=True)
class ShippedTarget:
    path: str
    data: bytes
    sha256: str


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
        _use_cache(shared.cache_url)
        tasks = pickle.loads(tasks_pickle)
        results = []
        for task, workspace in zip(tasks, workspaces):
            results.append(_run_one(task, workspace))
            if not keep_going and results[-1].result.get("failure") is not None:
                break
        return results


def _run_one(task, workspace: Workspace) -> JobResult:
    """Run one doit task under the probe, in the project or a scratch directory."""
    previous = os.getcwd()
    scratch = None
    try:
        if workspace.inputs is None:
            os.chdir(workspace.root)
        else:
            scratch = tempfile.mkdtemp(prefix="conductor-ship-")
            _materialise(scratch, workspace.inputs)
            os.chdir(scratch)
        warnings = io.StringIO()
        with contextlib.redirect_stderr(warnings):   # actions capture their own output
            result, failure = _execute(task)
        targets: tuple[ShippedTarget, ...] = ()
        if scratch is not None and failure is None:
            targets, failure = _collect(scratch, task, workspace)
            if failure is not None:
                result["failure"] = failure
        return JobResult(result, platform.node(), os.getpid(), targets, warnings.getvalue())
    finally:
        os.chdir(previous)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _use_cache(url: str | None) -> None:
    """The batch's action cache becomes this process's (a worker may serve
    clients with different caches, one batch at a time)."""
    from doit_conductor.glue import cached_execution
    store = cached_execution.active_store()
    if (store.url if store is not None else None) != url:
        cached_execution.activate(url)


def _execute(task) -> tuple[dict, object]:
    """Run the task under the probe; with an action cache, a hit is restored
    instead and a miss's result is stored (the client computed the key)."""
    from doit.task import Stream

    from doit_conductor.profiling import probe
    from doit_conductor.glue import cached_execution
    started = probe.start()
    failure = None
    try:
        failure = cached_execution.execute(
            task, lambda: task.execute(Stream(0, force_global=True)), lambda: None)
    finally:
        measurement = probe.stop(started, failed=failure is not None)
    setattr(task, probe.TASK_ATTRIBUTE, measurement)
    setattr(task, "conductor_worker_host", platform.node())
    result = {"name": task.name, "task": task.pickle_safe_dict(),
              "out": [action.out for action in task.actions],
              "err": [action.err for action in task.actions]}
    if failure is not None:
        result["failure"] = failure
    return result, failure


def inside(relative: str) -> bool:
    """True for a plain relative path that stays below the directory it is joined to."""
    parts = Path(relative).parts
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts


def _materialise(scratch: str, inputs: dict[str, bytes]) -> None:
    for relative, data in inputs.items():
        if not inside(relative):   # the client refuses these; never write outside scratch
            raise ValueError(f"--ship: input path {relative!r} leaves the scratch directory")
        path = Path(scratch, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _collect(scratch: str, task, workspace: Workspace):
    """The declared targets' bytes, or a failure naming a missing target or an
    undeclared write."""
    from doit.exceptions import TaskFailed
    declared = set(task.targets)
    inputs = workspace.inputs or {}
    for path in sorted(Path(scratch).rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(scratch).as_posix()
        if relative in declared or any(relative.startswith(p.rstrip("/") + "/")
                                       for p in workspace.scratch_ok):
            continue
        if relative in inputs and path.read_bytes() == inputs[relative]:
            continue
        return (), TaskFailed(f"--ship: task wrote the undeclared file '{relative}'; "
                              "declare it in targets (or run without --ship)")
    shipped = []
    for target in sorted(declared):
        if not inside(target):
            return (), TaskFailed(f"--ship: target '{target}' is outside the project; "
                                  "run this task without --ship")
        path = Path(scratch, target)
        if not path.is_file():
            return (), TaskFailed(f"--ship: declared target '{target}' was not written")
        data = path.read_bytes()
        shipped.append(ShippedTarget(target, data, hashlib.sha256(data).hexdigest()))
    return tuple(shipped), None
