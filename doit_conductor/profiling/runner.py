"""doit runner glue: doit's three runners with a probe around each task.

The only behaviour added to doit's `Runner`, `MRunner` and `MThreadRunner` is
in `execute_task`, which runs where the task's actions run (the main process,
a forked worker, a worker thread): the probe is started before and stopped
after doit's own `execute_task`, and the `Measurement` is set on the task as
`probe.TASK_ATTRIBUTE`.  In process mode the worker ships the task's
`__dict__` back (`pickle_safe_dict`) and the main process applies it before it
calls `reporter.add_success/add_failure`, so the reporter finds the
measurement on the task in every mode.

`__init__` also tells the reporter the run's shape (mode and worker count)
when the reporter asks for it with a `set_run_shape(mode, workers)` method.
"""
from __future__ import annotations

import queue

from doit.runner import MRunner, MThreadRunner, Runner

from doit_conductor.profiling import probe

SERIAL = "serial"
PROCESS = "process"
THREAD = "thread"


class _ProbedMixin:
    """execute_task measured by the probe; put first in the bases."""

    mode: str = SERIAL

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        set_run_shape = getattr(self.reporter, "set_run_shape", None)
        if set_run_shape is not None:
            set_run_shape(self.mode, getattr(self, "num_process", 0))
        if hasattr(self.reporter, "verbosity"):  # -v: the reporter's closing summary
            self.reporter.verbosity = self.stream.verbosity

    def execute_task(self, task):
        started = probe.start(thread_mode=self.mode == THREAD)
        failure = None
        try:
            failure = super().execute_task(task)
        finally:
            # Stop even when doit itself raises, so the next task's probe
            # starts clean; the measurement is only kept for a real result.
            measurement = probe.stop(started, failed=failure is not None)
        setattr(task, probe.TASK_ATTRIBUTE, measurement)
        return failure


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
        while self._process.exitcode is None:
            try:
                self._late.append(self._results.get(timeout=0.005))
            except queue.Empty:
                pass
        self._process.join()

    def __getattr__(self, name: str):
        return getattr(self._process, name)


class ProbedMRunner(_ProbedMixin, MRunner):
    """Process runner (`-n N`): tasks run in forked worker processes.

    Also fixes a hang of doit's MRunner: it joins its workers before reading
    the `teardown_task` reports they send while tearing down, so a worker with
    more than a pipe's worth of them (64 KiB: ~1,000 tasks with a teardown, as
    `codegen` has on a 1,000-pattern library with `-n 2`) blocks on the full
    pipe and the join never returns.  Here joining keeps reading."""

    mode = PROCESS

    def _run_start_processes(self, job_q, result_q):
        self._late_results: list[dict] = []
        return [_WorkerJoin(process, result_q, self._late_results)
                for process in super()._run_start_processes(job_q, result_q)]

    def run_tasks(self, task_dispatcher):
        super().run_tasks(task_dispatcher)
        # What doit's own loop after the joins does, for what was read during them.
        for result in self._late_results:
            if "exit" in result:
                raise result["exit"](result["exception"])
            task = task_dispatcher.tasks[result["name"]]
            getattr(self.reporter, result["reporter"])(task)


class ProbedMThreadRunner(_ProbedMixin, MThreadRunner):
    """Thread runner (`-n N -P thread`): wall time and counters only."""

    mode = THREAD
