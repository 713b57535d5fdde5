"""Every private doit or CPython API doit-conductor relies on, in one place.

Each function here stands for one assumption about upstream internals, and
`tests/test_compat.py` checks each assumption against the installed doit and
Python, so an upgrade that changes one fails there, by name, instead of
somewhere deep in a build.  Plain doit commands never import it: only
profiled runs and the features that use these internals do.
"""
from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import TracebackType

from doit import cmd_run
from doit.task import DelayedLoader

from doit_conductor.errors import UserError


# -- platform modules: POSIX only ------------------------------------------------
# `resource` (the probe's CPU and memory figures) and `fcntl` (the run lock, the
# manifest lock) do not exist on Windows.  Only the features that use them ask
# for them, so plain doit commands never notice.


def require_module(name: str, feature: str):
    """Import the platform module `feature` needs; a one-line UserError where it is missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"{feature} needs the `{name}` module, which this platform "
                        f"({sys.platform}) does not have") from None

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
# `self.Child` replaced, so `self.Child == Process` tests inside doit still hold.
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
        process = FORK.Process(target=runner.execute_task_subprocess,
                               args=(job_q, result_q, runner.reporter.__class__))
        process.start()
        processes.append(process)
    return processes


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


# -- CPython: how subprocess.Popen reaps its child (3.11-3.13) -----------------
# `Popen._try_wait(self, wait_flags)` calls os.waitpid for wait(); and
# `Popen._internal_poll(self, _deadstate=None, _waitpid=os.waitpid, ...)` binds
# os.waitpid as a default argument for poll().  Replacing both makes every reap
# go through wait4, which also returns the child's resource usage.
POPEN_REAP_ATTRIBUTES = ("_try_wait", "_internal_poll")


def install_popen_reaper(try_wait: Callable, waitpid: Callable) -> Callable[[], None] | None:
    """Make subprocess.Popen reap children with `try_wait` / `waitpid`.

    Returns the function that puts Popen back as it was, or None (nothing
    changed) where os.wait4 or Popen's private methods are not as expected.
    """
    popen = subprocess.Popen
    if not hasattr(os, "wait4") or "_try_wait" not in vars(popen):
        return None
    saved_try_wait = vars(popen)["_try_wait"]
    poll = vars(popen).get("_internal_poll")
    saved_defaults = getattr(poll, "__defaults__", None)
    popen._try_wait = try_wait
    if saved_defaults and os.waitpid in saved_defaults:
        poll.__defaults__ = tuple(waitpid if d is os.waitpid else d for d in saved_defaults)

    def undo() -> None:
        popen._try_wait = saved_try_wait
        if poll is not None and saved_defaults is not None:
            poll.__defaults__ = saved_defaults

    return undo


# -- Jinja2: bytecode cache buckets and rewritten tracebacks --------------------
# jinja2 is imported only by the functions that need it (not on doit's path).


def jinja_bucket(environment, key: str):
    """A `jinja2.bccache.Bucket` for `key`, its checksum being the key itself
    (our keys are content hashes, so a bucket never holds stale code)."""
    from jinja2.bccache import Bucket
    return Bucket(environment, key, key)


def traceback_lines(tb: TracebackType | None) -> Iterator[tuple[str, int]]:
    """(file name, line) of each frame, outermost first.

    Jinja2 rewrites a template error's traceback so that the frames of compiled
    template code carry the template's file name and line: the template line is
    found by file name.
    """
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
