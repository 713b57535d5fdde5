"""`doit run`, measured when the selected reporter asks for it.

Installed through the `doit.COMMAND` entry point, this command replaces doit's
`run` in *every* project where doit-conductor is installed, so it must be
doit's `run` exactly: same options, same defaults, same behaviour.  It differs
in one case only: when the selected reporter has `wants_probe = True` (the
`conductor` reporter), doit's runner classes are swapped for the probed ones
of `doit_conductor.profiling.runner` for the duration of `Run._execute`.

In a doit-conductor project (`backend = "conductor"`) the run also holds the
repository run lock (`doit_conductor.incremental.lock`) while it loads, runs and saves,
and takes the fast no-op (`doit_conductor.incremental.fast_noop`) when it can.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from doit import cmd_run
from doit.cmd_run import Run

from doit_conductor.errors import UserError
from doit_conductor.profiling import runner as probed


INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command


class _UpToDate(Exception):
    """The fast no-op found nothing to do: the run ends before tasks are loaded."""


class ProfilingRun(Run):
    """doit's `run`, plus per-task measurement for reporters that want it."""

    name = "run"

    # Same signature as Run._execute: doit passes options by these names.
    def _execute(self, outfile,
                 verbosity=None, always=False, continue_=False,
                 reporter='console', num_process=0, par_type='process',
                 single=False, auto_delayed_regex=False, force_verbosity=False,
                 failure_verbosity=0, pdb=False):
        options = dict(verbosity=verbosity, always=always, continue_=continue_,
                       reporter=reporter, num_process=num_process, par_type=par_type,
                       single=single, auto_delayed_regex=auto_delayed_regex,
                       force_verbosity=force_verbosity,
                       failure_verbosity=failure_verbosity, pdb=pdb)
        if not self._wants_probe(reporter):
            return super()._execute(outfile, **options)
        with probed_runners():
            return super()._execute(outfile, **options)

    def _wants_probe(self, reporter: object) -> bool:
        """Whether the selected reporter (name, class or instance) wants probes."""
        if isinstance(reporter, str):
            reporter = self.reporters.get(reporter)
        return bool(getattr(reporter, "wants_probe", False))

    # -- repository run lock (doit_conductor.incremental.lock) --------------------------

    def execute(self, params, args):
        # The lock is taken in `get_checker_cls` and released here, after doit
        # has saved the dependency DB.  Not getting it is one line, exit 3.
        try:
            with contextlib.ExitStack() as self._held:
                self._params, self._args, self._noop = params, args, None
                try:
                    result = super().execute(params, args)
                except _UpToDate:
                    return 0
                if result == 0 and self._noop is not None:
                    self._noop.record(self.control.tasks, self.control.selected_tasks,
                                      self.dep_manager)
                return result
        except UserError as err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 3
        except KeyboardInterrupt:
            # doit's runners have already saved the tasks that finished and
            # reported the run (`finally` in run_all); what is left of the
            # exception is a traceback the user does not need.
            sys.stderr.write("doit: interrupted; finished tasks are saved, "
                             "unfinished ones run again next time\n")
            return INTERRUPTED

    def get_checker_cls(self, check_file_uptodate):
        # doit calls this from `execute` once it has moved to the project
        # directory and just before it opens the dependency DB: the narrowest
        # point at which the whole load-run-save cycle can be put under the lock.
        self._held.enter_context(self.run_lock())
        if (getattr(self, "_params", None) or {}).get("backend") == "conductor":
            from doit_conductor.incremental.fast_noop import FastNoop
            self._noop = FastNoop(self._params, self._args, self.outstream)
            if self._noop.check():
                raise _UpToDate()
            self._held.enter_context(self._noop.recording_listings())
        return super().get_checker_cls(check_file_uptodate)

    def run_lock(self) -> contextlib.AbstractContextManager:
        """Held from before the dependency DB is opened until after it is saved.

        Only for projects whose state is doit-conductor's (`backend =
        "conductor"`): the lock file goes next to that DB (`.conductor/lock`),
        and other doit projects never see one.  See `doit_conductor.incremental.lock`.
        """
        params = getattr(self, "_params", None) or {}
        if params.get("backend") != "conductor":
            return contextlib.nullcontext()
        from doit_conductor.incremental import lock
        return lock.run_lock(os.getcwd(), os.path.dirname(params["dep_file"]) or ".")


@contextlib.contextmanager
def probed_runners() -> Iterator[None]:
    """Make `doit.cmd_run` pick the probed runners while the block runs.

    `Run._execute` chooses among the names `Runner`, `MRunner` and
    `MThreadRunner` of its own module (including the fallback to threads when
    multiprocessing is unavailable), so replacing those three globals is the
    narrowest change that keeps every choice and option of doit's.
    """
    saved = (cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner)
    cmd_run.Runner = probed.ProbedRunner
    cmd_run.MRunner = probed.ProbedMRunner
    cmd_run.MThreadRunner = probed.ProbedMThreadRunner
    try:
        yield
    finally:
        cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner = saved
