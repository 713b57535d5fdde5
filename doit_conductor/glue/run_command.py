"""`doit run`, measured when the selected reporter asks for it.

Installed through the `doit.COMMAND` entry point, this command replaces doit's
`run` in *every* project where doit-conductor is installed, so it must be
doit's `run` exactly: same options, same defaults, same behaviour.  It differs
in three ways:

* when the selected reporter has `wants_probe = True` (the `conductor`
  reporter), doit's runner classes are swapped for the probed ones of
  `doit_conductor.glue.runner` for the duration of `Run._execute`;
* in a doit-conductor project (`backend = "conductor"`) the run holds the
  repository run lock (`doit_conductor.incremental.lock`) while it loads, runs
  and saves, and not getting it is one line and exit 3; there it also takes
  the fast no-op (`doit_conductor.glue.fast_noop`) when it can;
* with that reporter, a Ctrl-C ends in one line and exit 130 instead of doit's
  traceback.

While it runs, task creators can ask what it was asked to run
(`glue.selection`), and when it ends it frees the state documents the run kept
decoded (`state_files.forget_decoded`).  Nothing beyond this module and
`selection` is imported for other reporters.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

from doit.cmd_run import Run

from doit_conductor.errors import UserError
from doit_conductor.glue import plugins, selection
from doit_conductor.glue.state_lock import project_lock
from doit_conductor.scale import run_options


INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command


@contextlib.contextmanager
def _interrupt_once():
    """Ctrl-C raises KeyboardInterrupt once; every later one is ignored, for
    the rest of the process when the run was interrupted.  The user has asked:
    what is left (doit's closing steps, the DB saved, the lock released, this
    line, multiprocessing joining what the tasks started) must not end in a
    traceback on a second Ctrl-C.  Forked workers inherit it."""
    if threading.current_thread() is not threading.main_thread():
        yield   # only the main thread may set a handler
        return

    def interrupt(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise
    if signal.getsignal(signal.SIGINT) is interrupt:   # not interrupted: as it was
        signal.signal(signal.SIGINT, previous)


class _UpToDate(Exception):
    """The fast no-op found nothing to do: the run ends before tasks are loaded."""


class ProfilingRun(Run):
    """doit's `run`, plus per-task measurement for reporters that want it."""

    name = "run"
    # doit's options plus --cache/--executor/--scheduler/--ship, inert unless given
    # (or set in a doit-conductor project's [tool.conductor]): doit_conductor.scale.
    cmd_options = Run.cmd_options + run_options.CMD_OPTIONS

    def __init__(self, **kwargs):
        with plugins.one_entry_point_scan():   # doit looks up backends, then reporters
            super().__init__(**kwargs)

    # Same signature as Run._execute: doit passes options by these names
    # (compat.RUN_EXECUTE_PARAMETERS; tests compare it with doit's), plus ours.
    def _execute(self, outfile,
                 verbosity=None, always=False, continue_=False,
                 reporter='console', num_process=0, par_type='process',
                 single=False, auto_delayed_regex=False, force_verbosity=False,
                 failure_verbosity=0, pdb=False,
                 cache="", executor=run_options.LOCAL, scheduler="", ship=False):
        options = dict(verbosity=verbosity, always=always, continue_=continue_,
                       reporter=reporter, num_process=num_process, par_type=par_type,
                       single=single, auto_delayed_regex=auto_delayed_regex,
                       force_verbosity=force_verbosity,
                       failure_verbosity=failure_verbosity, pdb=pdb)
        params = getattr(self, "_params", None) or {}
        sweep_state = getattr(self.dep_manager.backend, "sweep_state", None)
        if sweep_state is not None:   # the conductor backend, under the run lock
            sweep_state()
            from doit_conductor.glue.checker import share_digests
            share_digests(self.dep_manager)
        scale = run_options.resolve(cache, executor, scheduler, ship,
                                    params.get("backend") == "conductor", os.getcwd())
        if not scale.active and not self._wants_probe(reporter):
            return super()._execute(outfile, **options)
        cache = action_cache(scale.cache_url)
        if scale.executor != run_options.DASK:
            with probed_runners(cache):
                return super()._execute(outfile, **options)
        # doit picks MRunner for -n N in process mode: that name is the hook
        from doit_conductor.glue import dask_runner
        dask = dask_runner.configured(scale.scheduler, scale.ship, scale.connect_timeout_s,
                                      scale.batch_size, cache)
        options.update(num_process=num_process or os.cpu_count() or 1, par_type="process")
        with probed_runners(cache, process=dask):
            return super()._execute(outfile, **options)

    def _wants_probe(self, reporter: object) -> bool:
        """Whether the selected reporter (name, class or instance) wants probes."""
        if isinstance(reporter, str):
            reporter = self.reporters.get(reporter)
        return bool(getattr(reporter, "wants_probe", False))

    def _selects_conductor(self, params) -> bool:
        """Whether the project or the command line selects anything of ours
        (plain doit keeps its own behaviour and exit codes)."""
        return (params.get("backend") == "conductor" or self._wants_probe(params.get("reporter"))
                or bool(params.get("cache"))
                or params.get("executor", run_options.LOCAL) != run_options.LOCAL)

    # -- repository run lock (doit_conductor.incremental.lock) --------------------------

    def execute(self, params, args):
        # The lock is taken in `get_checker_cls` and released here, after doit
        # has saved the dependency DB.  Not getting it is one line, exit 3.
        try:
            run_options.check_combination(params.get("executor", run_options.LOCAL),
                                          params.get("scheduler", ""), params.get("ship", False))
            with contextlib.ExitStack() as self._held:
                self._params, self._args, self._noop = params, args, None
                try:
                    with selection.requesting(args), self._creator_lines(params):
                        result = super().execute(params, args)
                except _UpToDate:
                    return 0
                try:
                    if result == 0 and self._noop is not None:
                        self._noop.record(self.control.tasks, self.control.selected_tasks,
                                          self.dep_manager)
                finally:
                    _forget_decoded()
                return result
        except UserError as err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 3
        except KeyboardInterrupt:
            if not self._wants_probe(self._params.get("reporter")):
                raise  # plain doit: its traceback, and death by the signal
            # `_interrupt_once` ignores any further Ctrl-C from the moment the
            # run was set up; before that, from here
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            # doit's runners have already saved the tasks that finished and
            # reported the run (`finally` in run_all); what is left of the
            # exception is a traceback the user does not need.
            sys.stderr.write("doit: interrupted; finished tasks are saved, "
                             "unfinished ones run again next time\n")
            return INTERRUPTED

    def _creator_lines(self, params) -> contextlib.AbstractContextManager:
        """In projects of ours, doit learns where each task creator starts from
        its code, not by tokenising its source (`compat.creator_lines_from_code`)."""
        if not self._selects_conductor(params):
            return contextlib.nullcontext()
        from doit_conductor.glue import compat
        return compat.creator_lines_from_code()

    def get_checker_cls(self, check_file_uptodate):
        # doit calls this from `execute` once it has moved to the project
        # directory and just before it opens the dependency DB: the narrowest
        # point at which the whole load-run-save cycle can be put under the lock.
        if self._selects_conductor(self._params):
            # dodo.py's DOIT_CONFIG is merged by now; before the lock, the fast
            # no-op and the reporter: a bad value leaves no run record either
            from doit_conductor.run_params import check_run_params
            check_run_params(self._params)
            run_options.check_worker_count(self._params.get("num_process", 0))
        if self._wants_probe(self._params.get("reporter")):   # dodo's DOIT_CONFIG merged
            self._held.enter_context(_interrupt_once())
        self._held.enter_context(self.run_lock())
        if (getattr(self, "_params", None) or {}).get("backend") == "conductor":
            from doit_conductor import gc_pause
            gc_pause.keep_decoded_here()   # the snapshot, the DB, the state documents
            from doit_conductor.glue.fast_noop import FastNoop
            self._noop = FastNoop(self._params, self._args, self.outstream)
            if self._noop.check():
                gc_pause.freeze_at_exit(collect=False)   # no task, no dodo code ran
                raise _UpToDate()
            gc_pause.freeze_at_exit()
            self._held.enter_context(self._noop.recording_listings())
        return super().get_checker_cls(check_file_uptodate)

    def run_lock(self) -> contextlib.AbstractContextManager:
        """Held from before the dependency DB is opened until after it is saved,
        in projects whose state is doit-conductor's (`state_lock.project_lock`)."""
        return project_lock(getattr(self, "_params", None))


def _forget_decoded() -> None:
    """Free the state documents the run kept decoded (`state_files.forget_decoded`)
    and the check's sweep; a run that never read one (the no-op) never imported
    the module."""
    snapshot = sys.modules.get("doit_conductor.incremental.snapshot")
    if snapshot is not None:
        snapshot.starting(None)
    state_files = sys.modules.get("doit_conductor.state_files")
    if state_files is not None:
        state_files.forget_decoded()


def action_cache(url: str | None):
    """The run's action cache at `url` (None: the run has none)."""
    if url is None:
        return None
    from doit_conductor.glue.cached_execution import ActionCache
    from doit_conductor.scale import action_store
    action_store.check_available(url)
    return ActionCache(url)


@contextlib.contextmanager
def probed_runners(cache=None, process: type | None = None) -> Iterator[None]:
    """Make doit's run pick the probed runners, bound to the run's action cache,
    while the block runs (see `compat.runners_of_run`: the narrowest change that
    keeps every choice and option of doit's); `process` replaces the `-n` one."""
    from doit_conductor import upstream  # only for profiled runs
    from doit_conductor.glue import compat
    upstream.require_module("resource", "the conductor reporter's per-task measurement")
    from doit_conductor.glue import runner as probed
    runners = (probed.ProbedRunner, process or probed.ProbedMRunner, probed.ProbedMThreadRunner)
    with compat.runners_of_run(*(probed.bound(runner, cache) for runner in runners)):
        yield
