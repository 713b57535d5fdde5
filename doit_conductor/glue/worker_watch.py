"""A worker process that dies is a failed task, not a hang.

doit's `MRunner` waits for its workers' results with a blocking `get` on one
queue.  A worker killed mid-task (SIGKILL, the kernel's OOM killer) never
sends its result, so doit waited forever, holding the run lock: CI hung.

`WatchedQueue` is the queue class `ProbedMRunner` gives doit.  Workers `put`
as before, and each announces the task it starts (`announce`, from
`execute_task` in the worker: a message doit never sees).  doit's process
reads with a timeout; while nothing arrives it checks the workers.  A dead
worker is replaced by a new one, so doit's count of workers stays true and
`--continue` can go on, and the task it was running comes back as failed, one
line naming the task and the signal.  doit then stops the run (or, with
`--continue`, carries on), and the failed task runs again next time.

Not covered: a worker killed in the instant between taking a job from the
queue and announcing it (its task is never reported), and one killed while it
holds a queue's internal lock (idle workers wait for a job holding the job
queue's read lock): both still hang.  An OOM kill hits a busy worker.
"""
from __future__ import annotations

import contextlib
import os
import queue
import signal
import time
from collections.abc import Callable

from doit.exceptions import TaskFailed

from doit_conductor.glue import compat

POLL_S = 0.2            # how often doit's process looks at its workers while it waits
STARTED = "conductor_started"


class WatchedQueue:
    """A fork-context queue that, read in doit's process, never waits on a dead worker."""

    def __init__(self) -> None:
        self._queue = compat.FORK.Queue()
        self._watch: _Watch | None = None

    # -- both sides ------------------------------------------------------------
    def put(self, item, *args, **kwargs) -> None:
        self._queue.put(item, *args, **kwargs)

    def empty(self) -> bool:
        return self._queue.empty()

    # -- the worker side -------------------------------------------------------
    def announce(self, task_name: str) -> None:
        """Say, from a worker, which task it starts (read by `get`, never by doit)."""
        self._queue.put({STARTED: task_name, "pid": os.getpid()})

    # -- doit's side -----------------------------------------------------------
    def watch(self, runner, job_q, processes: list, wrap: Callable = lambda p: p) -> None:
        """Watch `processes` (the list doit joins at the end: replacements,
        passed through `wrap`, are appended to it) while reading; `job_q` is
        what a replacement reads."""
        self._watch = _Watch(runner, job_q, self, processes, wrap)

    def stop_watching(self) -> None:
        """doit's loop is over and it joins its workers: a worker that dies now
        has no task, and a replacement would wait for a job that never comes."""
        self._watch = None

    def get(self, block: bool = True, timeout: float | None = None):
        if self._watch is None:
            return self._queue.get(block, timeout)
        try:
            return self._watched_get(block, timeout)
        except (KeyboardInterrupt, SystemExit):
            # doit terminates its workers next, without waiting for them: what
            # they started (external checks, test interpreters) would outlive them
            self._watch.kill_descendants()
            raise

    def _watched_get(self, block: bool, timeout: float | None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            try:
                item = self._queue.get(block, wait)
            except queue.Empty:
                if (lost := self._watch.lost_task()) is not None:
                    return lost
                if not block or (deadline is not None and time.monotonic() >= deadline):
                    raise
                continue
            if isinstance(item, dict) and STARTED in item:
                self._watch.running[item["pid"]] = item[STARTED]
                continue
            if isinstance(item, dict) and "reporter" not in item:
                self._watch.finished(item.get("name"))
            return item


class _Watch:
    """doit's workers and the task each is running, as announced."""

    def __init__(self, runner, job_q, results: WatchedQueue, processes: list,
                 wrap: Callable) -> None:
        self.wrap = wrap
        self.runner = runner
        self.job_q = job_q
        self.results = results
        self.processes = processes
        self.running: dict[int, str] = {}   # worker pid -> task name
        self.gone: set[int] = set()

    def kill_descendants(self) -> None:
        """Kill every process the workers started, not the workers.  A Ctrl-C
        reaches them too, but a shell still between fork and exec of its
        command when it lands (dash defers it there) waits on for that command."""
        import psutil   # only on this rare path
        for process in self.processes:
            try:
                started = psutil.Process(process.pid).children(recursive=True)
            except psutil.Error:
                continue
            for child in started:
                with contextlib.suppress(psutil.Error):
                    child.kill()

    def finished(self, name: str | None) -> None:
        for pid, running in list(self.running.items()):
            if running == name:
                del self.running[pid]

    def lost_task(self) -> dict | None:
        """The failed result of a task whose worker died, if one did."""
        for process in list(self.processes):
            code = process.exitcode
            if code is None or code == 0 or process.pid in self.gone:
                continue
            self.gone.add(process.pid)
            self.processes.append(self.wrap(compat.start_worker(self.runner, self.job_q,
                                                                self.results)))
            name = self.running.pop(process.pid, None)
            if name is None:
                continue   # died between tasks: replaced, nothing lost
            task = self.runner.tasks[name]
            return compat.failed_worker_result(task, TaskFailed(death_message(name, process.pid, code)))
        return None


def death_message(task_name: str, pid: int, exitcode: int) -> str:
    """One line: which task, which worker, how it ended."""
    if exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            how += " (out of memory, or killed by hand)"
    else:
        how = f"exited with status {exitcode}"
    return f"the worker process running {task_name} (pid {pid}) died: {how}"
