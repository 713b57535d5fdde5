"""Every private doit API doit-conductor relies on, in one place.

Each function here stands for one assumption about doit's internals, and
`tests/test_compat.py` checks each against the installed doit, so an upgrade
that changes one fails there, by name, instead of somewhere deep in a build.
Plain doit commands never import it: only profiled runs and the features that
use these internals do.  CPython's and Jinja2's internals are in
`doit_conductor.upstream`.
"""
from __future__ import annotations

import contextlib
import inspect
import multiprocessing
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator

from doit import cmd_run, loader
from doit.task import DelayedLoader


# -- doit: the runner classes `Run._execute` picks (doit.cmd_run) -------------
# `Run._execute` chooses among the module globals Runner, MRunner and
# MThreadRunner of doit.cmd_run (with its fallback to threads when
# multiprocessing is unavailable); swapping them keeps every choice of doit's.
RUNNER_NAMES = ("Runner", "MRunner", "MThreadRunner")


@contextlib.contextmanager
def runners_of_run(serial: type, process: type, thread: type) -> Iterator[None]:
    """Make `doit.cmd_run` pick these runner classes while the block runs."""
    saved = tuple(getattr(cmd_run, name) for name in RUNNER_NAMES)
    for name, runner in zip(RUNNER_NAMES, (serial, process, thread)):
        setattr(cmd_run, name, runner)
    try:
        yield
    finally:
        for name, runner in zip(RUNNER_NAMES, saved):
            setattr(cmd_run, name, runner)


# -- doit: Run._execute takes options by parameter name ------------------------
# doit's Command.execute passes `_execute` the options its signature names, so
# an override must copy doit's signature exactly (checked by the tests).
RUN_EXECUTE_PARAMETERS = (
    "self", "outfile", "verbosity", "always", "continue_", "reporter", "num_process",
    "par_type", "single", "auto_delayed_regex", "force_verbosity", "failure_verbosity", "pdb")


# -- doit: MRunner's worker processes (doit.runner.MRunner) ---------------------
# doit 0.37 starts workers with `multiprocessing.Process`, whatever the default
# start method is; from Python 3.14 that is forkserver on Linux, which pickles
# the runner and every task (lambdas, closures: failure).  Profiled runs start
# them with the fork context, as doit was written for.  The loop below is doit's
# `MRunner._run_start_processes` (source hash checked by the tests) with only
# `self.Child` replaced, so `self.Child == Process` tests inside doit still hold,
# and each worker forked with Ctrl-C held (`_interrupt_held_over_fork`).
MRUNNER_START_PROCESSES_SHA256 = "488099efcf3219c44d975bfc90a6a4ee290175297a95638bc2a6e36ec2538ae1"
FORK = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() \
    else None


def start_workers(runner, job_q, result_q, before_fork: Callable[[object], None] | None = None
                  ) -> list:
    """doit's `MRunner._run_start_processes`, with processes of the fork context;
    `before_fork(job)` is called before each worker is forked, with its first job
    (a `JobTask`/`JobTaskPickle`, whose `name` is the task's, or a `JobHold`)."""
    processes = []
    for _ in range(runner.num_process):
        next_job = runner.get_next_job(None)
        if next_job is None:
            break  # do not start more processes than tasks
        if before_fork is not None:
            before_fork(next_job)
        job_q.put(next_job)
        processes.append(start_worker(runner, job_q, result_q))
    return processes


def start_worker(runner, job_q, result_q):
    """One worker, forked with Ctrl-C held (`_interrupt_held_over_fork`); also a
    replacement for one that died (`glue/worker_watch.py`)."""
    process = FORK.Process(target=_worker, args=(runner, job_q, result_q))
    with _interrupt_held_over_fork():
        process.start()
    return process


@contextlib.contextmanager
def _interrupt_held_over_fork() -> Iterator[None]:
    """SIGINT blocked while a worker is forked.  A Ctrl-C that lands in a fork
    hook (logging's, the run lock's) raises there, where Python prints
    'Exception ignored' and drops it: the run went on and exited 0.  Blocked,
    it waits, and is raised when the block ends, in doit's process as any
    Ctrl-C; the worker starts with it blocked and unblocks it first."""
    if threading.current_thread() is not threading.main_thread():
        yield   # signals reach the main thread only
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _worker(runner, job_q, result_q) -> None:
    """A worker's start: Ctrl-C unblocked (a pending one ends it quietly: doit's
    process has it too), then doit's worker loop; once that ends, Ctrl-C is
    ignored: what is left is multiprocessing's exit (joining the result
    queue's feeder thread), where a second Ctrl-C printed a traceback."""
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        runner.execute_task_subprocess(job_q, result_q, runner.reporter.__class__)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# `MRunner._process_result` applies a worker's result `{'name', 'failure',
# 'task' (Task.pickle_safe_dict), 'out', 'err'}` (one entry per action) to the
# task in doit's process; a worker that died sends none, so one is made here.
MRUNNER_RESULT_KEYS = ("failure", "task", "out", "err")


def failed_worker_result(task, failure) -> dict:
    """The result a worker would have sent for `task` had it failed with `failure`."""
    return {"name": task.name, "failure": failure, "task": task.pickle_safe_dict(),
            "out": [], "err": []}


# `MRunner.run_tasks` joins its workers, then reads the reports they sent while
# tearing down: `{'name', 'reporter'}` (a reporter method to call on the task)
# or `{'exit', 'exception'}` (a worker blew up).  ProbedMRunner reads those
# while joining instead and hands each to `late_worker_result` (the same
# handling as doit's loop; source hash checked by the tests).
MRUNNER_RUN_TASKS_SHA256 = "3021eddf5d73870c6f3290029e195b15d445d1edefb719722f3214fb0765dc35"


def late_worker_result(runner, task_dispatcher, result: dict) -> None:
    """Do what doit's MRunner does with a result read after its workers ended."""
    if "exit" in result:
        raise result["exit"](result["exception"])
    task = task_dispatcher.tasks[result["name"]]
    getattr(runner.reporter, result["reporter"])(task)


# -- doit: ConsoleReporter.failures ---------------------------------------------
# `ConsoleReporter.complete_run` prints the captured output of every entry
# `{'task': task, 'exception': fail}` of its `failures` list.


def show_output_at_end(reporter, task, fail) -> None:
    """Have doit's console reporter print `task`'s captured output at the end."""
    reporter.failures.append({"task": task, "exception": fail})


# -- doit: delayed task creation (doit.task.DelayedLoader, doit.control) -------
# `@create_after(executed=X)` puts a DelayedLoader on the creator; doit loads it
# as a placeholder Task whose `loader` is that object, sets `loader.created`
# once the creator ran and replaces `task.loader` by `DelayedLoaded` (False).
LOADER_ATTRIBUTES = ("task_dep", "created", "basename", "creates")


def delayed_loader(task: object) -> DelayedLoader | None:
    """The DelayedLoader of a placeholder task, or None for any other task."""
    loader = getattr(task, "loader", None)
    return loader if isinstance(loader, DelayedLoader) else None


def loader_waits_for(loader: DelayedLoader) -> str | None:
    """The `create_after` task: the creator runs once it has."""
    return loader.task_dep or None


def loader_ran(loader: DelayedLoader) -> bool:
    """Whether doit has called the creator (its tasks are in the task dict)."""
    return bool(loader.created)


def loader_basename(loader: DelayedLoader) -> str | None:
    """The basename doit set when a sub-task of the creator was selected."""
    return loader.basename


def loader_creates(loader: DelayedLoader) -> tuple[str, ...]:
    """Basenames the creator declares it creates besides its own (`creates=`)."""
    return tuple(loader.creates)


# -- doit: a runner's bookkeeping (doit.runner.Runner / MRunner) -----------------
# `_handle_task_error(node, failure)` records a failure (reporter, DB, and the
# stop unless --continue); `_stop_running` is that stop; `teardown_list` the
# tasks whose teardown runs at the end; `_run_tasks_init` what MRunner sets up
# before its loop.  MRunner starts its workers in `_run_start_processes`.


def fail_node(runner, node, failure) -> None:
    """Record `failure` as the result of `node`, as doit's runner does."""
    runner._handle_task_error(node, failure)


def stop_requested(runner) -> bool:
    """Whether a failure (without --continue) has asked the runner to stop."""
    return runner._stop_running


def start_run(runner, task_dispatcher) -> None:
    """What MRunner.run_tasks sets up before dispatching (`_run_tasks_init`)."""
    runner._run_tasks_init(task_dispatcher)


def add_teardown(runner, task) -> None:
    """Have the runner run `task`'s teardown at the end of the run."""
    runner.teardown_list.append(task)


def apply_worker_result(task, task_dict: dict) -> None:
    """Update doit's Task with the `pickle_safe_dict()` a worker sent back."""
    task.update_from_pickle(task_dict)


class WorkerStartHook:
    """Put before MRunner in the bases: its `_run_start_processes(job_q,
    result_q)` becomes the overridable `start_worker_processes`."""

    def _run_start_processes(self, job_q, result_q):
        return self.start_worker_processes(job_q, result_q)

    def start_worker_processes(self, job_q, result_q) -> list:
        return super()._run_start_processes(job_q, result_q)


# `MRunner.get_next_job` asks the dispatcher's generator for the next node,
# which answers "hold on" while a ready task waits on one still running.  The
# Dask runner hands the node itself to its batches, not doit's JobTask: the
# loop below is doit's (source hash checked by the tests) without the JobTask.
MRUNNER_GET_NEXT_JOB_SHA256 = "a2f9bb633decbe4ac7878f43a20ba67289497505c74a6c3081b7508d96835b24"
HOLD = object()   # the dispatcher said "hold on": nothing ready until a task finishes


def next_ready_node(runner, completed):
    """The next node to run (`completed`: the node that just finished, or None),
    HOLD, or None when no task is left (or the run is stopping)."""
    if runner._stop_running:
        return None
    node = completed
    while True:
        try:
            node = runner.task_dispatcher.generator.send(node)
            if node == "hold on":
                return HOLD
        except StopIteration:
            return None
        if runner.select_task(node, runner.tasks):
            return node


# -- doit: where a task creator starts (doit.loader._get_task_creators) -------
# doit orders the task creators by the line each starts on, which it takes
# from `inspect.getsourcelines(ref)[1]`: reading and tokenising the creator's
# whole body, ~0.4 ms a creator (9-13 ms for this workflow's 22) in every run
# that loads tasks.  For a function that line is its code's `co_firstlineno`
# (its first decorator's, as inspect reports it); doit.loader's `inspect` is
# swapped for one that says so while the block runs.
@contextlib.contextmanager
def creator_lines_from_code() -> Iterator[None]:
    saved = loader.inspect
    loader.inspect = _CreatorLines(saved)
    try:
        yield
    finally:
        loader.inspect = saved


class _CreatorLines:
    """`inspect`, but `getsourcelines` of a function or method answers its
    first line without reading its source (no lines: doit reads only the number)."""

    def __init__(self, module) -> None:
        self._inspect = module

    def __getattr__(self, name: str):
        return getattr(self._inspect, name)

    def getsourcelines(self, ref) -> tuple[list[str], int]:
        function = self._inspect.unwrap(ref)
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if code is None:
            return self._inspect.getsourcelines(ref)
        return [], code.co_firstlineno


# Source hashes of the doit functions whose behaviour the functions above (and
# `state_lock`, which takes the run lock in `get_checker_cls`, called by
# `DoitCmdBase.execute` after the configuration is merged and before the DB
# opens) assume.  tests/test_compat.py compares each with the installed doit.
# -- doit: where it calls task creators ----------------------------------------
# The loader calls the creators of dodo.py (`load_tasks`, its `_process_gen`),
# the dispatcher a `create_after` creator once what it waits for ran
# (`TaskDispatcher._add_task`).  Their sources are pinned below.
_CREATOR_CALLERS = {("loader.py", "load_tasks"), ("loader.py", "_process_gen"),
                    ("control.py", "_add_task")}


def creating_tasks() -> bool:
    """Whether this thread is inside one of doit's calls of a task creator: a
    directory listed there decides which tasks exist (a glob of input files)."""
    frame = inspect.currentframe()
    while frame is not None:
        code = frame.f_code
        if (os.path.basename(code.co_filename), code.co_name) in _CREATOR_CALLERS \
                and os.path.basename(os.path.dirname(code.co_filename)) == "doit":
            return True
        frame = frame.f_back
    return False


SOURCE_SHA256 = {
    "doit.loader:load_tasks": "6f2eb2a556a33d538bc7e176d2b3ce64dc459e284a546d17f7bd8150b88a06c3",
    "doit.control:TaskDispatcher._add_task":
        "bb36a9c9b5ee4c67e21e9bc26c8ec3ae2e94061ef907c2f24f92c3f2ac1da156",
    "doit.cmd_base:DoitCmdBase.execute": "abbedda71881a250e0bfc83f0909bbc3bbbb348f531540ebf4130be29e7a4826",
    "doit.loader:_get_task_creators": "988397b2763ce7d44cd2680c40b06899addd20a891cb4c9b5d2967294a75e77c",
    "doit.runner:Runner._handle_task_error": "16cb95a8137490547b117a95cdea6d2585d0d7f0ce15b494cb458a89691aaa12",
    "doit.runner:MRunner._run_tasks_init": "1309b6da0c9dae9a6786f0375324ab2d1bb3ad67d4e3fc37a7c88bce5ab9bf6b",
    "doit.runner:MRunner.get_next_job": MRUNNER_GET_NEXT_JOB_SHA256,
    "doit.task:Task.update_from_pickle": "7fcb7ed07a50645b98e80fa39ceb9a0395d9672b3fb19668b3a13f489f7ade96",
    # glue.plugins.one_entry_point_scan: the lookup goes through the module global
    "doit.plugin:PluginDict._from_entry_points":
        "6d98aaca1eb085551a6b42a1205d5b59635e594d5e393bcbee87806815349454",
    "doit.plugin:entry_points_impl":
        "2efddeda855219f641979d8bbed42142bf0ae3fc967fe4b4bb9016552852a9c6",
}


# -- doit: what its option parser says of a value it could not convert ------
# (doit.cmdparse.CmdOption.str2type: "Error parsing parameter '<name>' <type>.")
_PARAMETER = re.compile(r"parameter '(\w+)'")


def option_not_converted(error: Exception) -> str | None:
    """The option whose value doit could not convert to its type, by option
    name, from doit's parse error (None: another error, or another wording)."""
    if not isinstance(error.__context__, ValueError):
        return None
    found = _PARAMETER.search(str(error))
    return found.group(1) if found else None
