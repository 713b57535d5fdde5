"""doit runner glue: doit's three runners with the execution chain around each task.

The behaviour added to doit's `Runner`, `MRunner` and `MThreadRunner` is in
`execute_task`, which runs where the task's actions run (the main process, a
forked worker, a worker thread): doit's own `execute_task` goes through
`execution.execute_task` (probe, action cache, `TaskNotes`).  In process mode
the worker ships the task's `__dict__` back (`pickle_safe_dict`) and the main
process applies it before it calls `reporter.add_success/add_failure`, so the
reporter finds the notes on the task in every mode.  The run's action cache
reaches the runners as a class attribute (`bound`), set by the run command.

`__init__` also tells the reporter the run's shape (mode and worker count)
when the reporter asks for it with a `set_run_shape(mode, workers)` method.
Before forking its first worker, `ProbedMRunner` imports the modules of
`[tool.conductor] worker_preload` (`preload`), which the workers then share.
With an action cache on this machine, `ProbedMRunner.select_task` restores a
hit in doit's process instead of sending it to a worker (see
`execution.restore_before_dispatch`).

A sub-task named on the command line that does not exist yet (`doit
codegen:nosuch`, `codegen` creating its sub-tasks only once `plan-codegen`
ran) gets a placeholder task from doit; if the creator then makes no task of
that name, doit runs the empty placeholder and exits 0.  Here it fails as a
`NoSuchTask` instead, before it would run, and the run ends with an error.
"""
from __future__ import annotations

import os
import queue
import sys
from typing import TYPE_CHECKING

from doit.exceptions import TaskError
from doit.runner import MRunner, MThreadRunner, Runner

from doit_conductor.glue import compat, execution
from doit_conductor.glue.worker_watch import WatchedQueue
from doit_conductor.config import project_config
from doit_conductor.profiling import preload, probe

if TYPE_CHECKING:   # the action cache's modules load only for a run that has one
    from doit_conductor.glue.cached_execution import ActionCache

SERIAL = "serial"
PROCESS = "process"
THREAD = "thread"


class NoSuchTask(TaskError):
    """A sub-task named on the command line that its creator did not create."""


def pending_placeholders(tasks: dict, selected: list[str]) -> dict[str, object]:
    """Selected names doit stood in for until their delayed creator runs.

    doit (`TaskControl._filter_tasks`) makes `Task(name, None, loader=...)` for
    a `basename:sub` whose basename has a delayed creator; the creator's tasks
    then replace it in `tasks`, unless none has that name.
    """
    found = {}
    for name in selected:
        task = tasks.get(name)
        loader = compat.delayed_loader(task)
        basename = compat.loader_basename(loader) if loader is not None else None
        if basename and basename != name and not name.startswith("_regex_target"):
            found[name] = task
    return found


class _ProbedMixin:
    """execute_task through the execution chain; put first in the bases."""

    mode: str = SERIAL
    action_cache: ActionCache | None = None   # the run's (see `bound`)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._placeholders: dict[str, object] = {}
        set_run_shape = getattr(self.reporter, "set_run_shape", None)
        if set_run_shape is not None:
            set_run_shape(self.mode, getattr(self, "num_process", 0))
        if hasattr(self.reporter, "verbosity"):  # -v: the reporter's closing summary
            self.reporter.verbosity = self.stream.verbosity
        probe.configure(sample_memory=project_config(os.getcwd()).sample_memory)

    def run_all(self, task_dispatcher):
        self._placeholders = pending_placeholders(task_dispatcher.tasks,
                                                  task_dispatcher.selected_tasks)
        return super().run_all(task_dispatcher)

    def select_task(self, node, tasks_dict):
        # Called in the main process in every mode, once the creator has run.
        task = node.task
        if node.run_status is None and self._placeholders.get(task.name) is task:
            basename = task.name.split(":", 1)[0]
            compat.fail_node(self, node, NoSuchTask(
                f"no such task: {basename} created no sub-task named {task.name!r}"))
            return False
        return super().select_task(node, tasks_dict)

    def execute_task(self, task):
        if isinstance(getattr(self, "result_q", None), WatchedQueue):
            self.result_q.announce(task.name)   # in a worker: doit's process learns who runs what
        return execution.execute_task(
            task, lambda: super(_ProbedMixin, self).execute_task(task),
            lambda: self.reporter.execute_task(task), self.action_cache,
            thread_mode=self.mode == THREAD)


def bound(runner: type, cache: ActionCache | None) -> type:
    """`runner` with the run's action cache (doit instantiates runner classes
    itself, with its own arguments only)."""
    if cache is None:
        return runner
    return type(runner.__name__, (runner,), {"action_cache": cache})


class ProbedRunner(_ProbedMixin, Runner):
    """Serial runner: tasks run in doit's main process (worker 0)."""

    mode = SERIAL


class _WorkerJoin:
    """A worker process whose `join` keeps reading the result queue meanwhile."""

    def __init__(self, process, results, late: list[dict]) -> None:
        self._process = process
        self._results = results
        self._late = late

    def join(self) -> None:
        if isinstance(self._results, WatchedQueue):
            self._results.stop_watching()
        while self._process.exitcode is None:
            try:
                self._late.append(self._results.get(timeout=0.005))
            except queue.Empty:
                pass
        self._process.join()

    def __getattr__(self, name: str):
        return getattr(self._process, name)


class ProbedMRunner(_ProbedMixin, compat.WorkerStartHook, MRunner):
    """Process runner (`-n N`): tasks run in forked worker processes.

    Also fixes a hang of doit's MRunner: it joins its workers before reading
    the `teardown_task` reports they send while tearing down, so a worker with
    more than a pipe's worth of them (64 KiB: ~1,000 tasks with a teardown in
    one worker) blocks on the full pipe and the join never returns.  Our own
    workflow has no teardowns any more; other projects may.  Here joining keeps
    reading."""

    mode = PROCESS
    if compat.FORK is not None:
        # Workers are forked whatever the platform's default start method
        # (Python 3.14: forkserver, which would pickle every task).  Results
        # are read watching the workers: one that dies fails its task instead
        # of hanging the run (worker_watch.py).
        Queue = staticmethod(WatchedQueue)

    def start_worker_processes(self, job_q, result_q):
        self._late_results: list[dict] = []
        if compat.FORK is not None:
            processes = compat.start_workers(self, job_q, result_q, self._preload_for)
        else:
            processes = super().start_worker_processes(job_q, result_q)
        joined = [_WorkerJoin(process, result_q, self._late_results) for process in processes]
        if isinstance(result_q, WatchedQueue):
            result_q.watch(self, job_q, joined,
                           lambda process: _WorkerJoin(process, result_q, self._late_results))
        return joined

    def _preload_for(self, job) -> None:
        """Before forking a worker whose first job has actions (a group's or a
        hold is no work): import `[tool.conductor] worker_preload`, once."""
        if getattr(self, "_preloaded", False):
            return
        task = self.tasks.get(getattr(job, "name", None))
        if task is not None and task.actions:
            self._preloaded = True
            modules = preload.configured()
            if modules:
                preload.preload(modules, sys.stderr)

    def select_task(self, node, tasks_dict):
        # Called in doit's process just before a task would be sent to a worker.
        return super().select_task(node, tasks_dict) and not self._restored_here(node)

    def _restored_here(self, node) -> bool:
        """Restore a hit from a store on this machine here, as a finished task
        (the dispatcher takes a node that is not sent as done)."""
        task = node.task
        handled, failure = execution.restore_before_dispatch(
            task, lambda: self.reporter.execute_task(task), self.action_cache)
        if failure is not None:
            compat.fail_node(self, node, failure)
        elif handled:
            self.process_task_result(node, None)
        return handled

    def run_tasks(self, task_dispatcher):
        super().run_tasks(task_dispatcher)
        # What doit's own loop after the joins does, for what was read during them.
        for result in self._late_results:
            compat.late_worker_result(self, task_dispatcher, result)


class ProbedMThreadRunner(_ProbedMixin, MThreadRunner):
    """Thread runner (`-n N -P thread`): wall time and counters only."""

    mode = THREAD
