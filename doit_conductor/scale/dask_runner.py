"""`--executor dask`: doit's parallel runner with task execution moved to Dask.

doit stays the planner.  `DaskRunner` is doit's `MRunner` with its worker
processes and queues replaced by Dask futures: the same `get_next_job` decides
what is ready (dependency order, up-to-date checks in this process), the same
`_process_result` / `process_task_result` save the DB and tell the reporter.
Only `run_tasks` (how jobs travel) and `get_next_job` (which hands over the
node, not doit's JobTask) differ.  With an action cache, this process computes
each task's key (it has every input) and the worker looks it up, restores a
hit or stores a miss's result, so store round trips run in parallel on the
workers rather than one after another here.  Ready tasks travel in small
batches, so that the scheduler's round trip is paid per batch; at most `-n`
batches are in flight and a worker runs one task at a time, so at most `-n`
tasks run at once (see `run_tasks`).  The first failure stops dispatch (and
the rest of its batch) unless `--continue`, as in doit.  A LocalCluster
started for the run starts in a thread while doit walks the tasks up to the
first batch (measured: the run waits 0.21-0.56 s for it, against 0.56-0.61 s
spent starting it before walking).

A worker lost while running a task: Dask re-runs it on another worker
(`distributed.scheduler.allowed-failures` times), after which the task fails
with a one-line error; targets are written atomically by the tasks themselves
(shared mode) or by this process (ship mode), so none is left half-written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from doit.exceptions import TaskError, TaskFailed
from doit.runner import JobHold, JobTask, MRunner

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write
from doit_conductor.profiling import probe
from doit_conductor.scale import cache_entry, cached_execution, dask_job
from doit_conductor.scale.action_key import spec_of

DASK = "dask"
SHIP_META = "conductor_ship"   # {"inputs": [...files or dirs...], "scratch_ok": [...dirs...]}


class DaskRunner(MRunner):
    """Runs ready tasks on a Dask cluster; see the module doc."""

    mode = DASK
    scheduler = ""   # set by `configured` before doit instantiates the runner
    ship = False
    connect_timeout_s = 10.0
    # Tasks per Dask task ([tool.conductor.dask] batch_size): a round trip
    # through the scheduler (~22 ms measured here) costs more than a codegen
    # task's work (~3 ms of worker CPU).
    batch_size = 8

    def __init__(self, dep_manager, reporter, continue_=False, always_execute=False,
                 stream=None, num_process=1):
        super().__init__(dep_manager, reporter, continue_=continue_,
                         always_execute=always_execute, stream=stream,
                         num_process=max(1, num_process))
        set_run_shape = getattr(reporter, "set_run_shape", None)
        if set_run_shape is not None:
            set_run_shape(self.mode, self.num_process)
        self._cluster = self._client = None
        self._starting = None     # the LocalCluster being started, until waited for
        self._in_flight = None    # Dask's as_completed, once connected
        if self.scheduler or without_other_copies(sys.path) != sys.path:
            self._connect()
        else:
            # The LocalCluster starts (~0.5 s) while doit walks the tasks up to
            # the first batch.  Not when its workers need another sys.path:
            # swapping it would race with this thread's imports.
            require_distributed()
            from concurrent.futures import ThreadPoolExecutor
            starter = ThreadPoolExecutor(1, thread_name_prefix="conductor-dask-start")
            self._starting = starter.submit(connect, "", self.num_process,
                                            self.connect_timeout_s)
            starter.shutdown(wait=False)
        self._root = os.getcwd()
        store = cached_execution.active_store()
        self._workspace = dask_job.Workspace(self._root, (self._root,),
                                             cache_url=store.url if store else None)
        self._by_value_registered = False
        self._before: dict[str, dict[str, tuple[int, int] | None]] = {}

    def _connect(self) -> None:
        """Connected to the cluster (waiting for the LocalCluster being started),
        with workers that run this doit-conductor; else a UserError."""
        if self._client is not None:
            return
        if self._starting is not None:
            # cleared only once started: interrupted while waiting, the
            # cluster is still there for finish_cluster to wait for and stop
            self._cluster, self._client = self._starting.result()
            self._starting = None
        else:
            self._cluster, self._client = connect(self.scheduler, self.num_process,
                                                  self.connect_timeout_s)
        try:
            check_workers(_worker_fingerprints(self._client, self.scheduler),
                          dask_job.FINGERPRINT, self.scheduler)
        except BaseException:
            self.finish_cluster()
            raise
        from distributed import as_completed
        self._in_flight = as_completed(loop=self._client.loop)

    # -- dispatch ----------------------------------------------------------

    def get_next_job(self, completed):
        """doit's MRunner.get_next_job, returning the node itself (the task
        travels in a batch, not as doit's JobTask)."""
        if self._stop_running:
            return None
        node = completed
        while True:
            try:
                node = self.task_dispatcher.generator.send(node)
                if node == "hold on":
                    return JobHold()
            except StopIteration:
                return None
            if self.select_task(node, self.tasks):
                return node

    def run_tasks(self, task_dispatcher):
        """Ready tasks travel in batches of up to `batch_size`, at most `-n` batches
        in flight, so at most `-n` tasks run at once on a cluster of any size.
        On the LocalCluster started for the run, whose `-n` single-threaded
        workers bound that themselves, two batches per worker are in flight: a
        worker starts its next batch while the last one's result travels back."""
        self._run_tasks_init(task_dispatcher)
        pending: dict = {}            # future -> the nodes of its batch
        self._ran_here: list = []     # (node, failure) of tasks run in this process
        slots = self.num_process * (1 if self.scheduler else 2)
        try:
            self._dispatch([None], slots, pending)
            while pending or self._ran_here:
                if self._ran_here:
                    node, failure = self._ran_here.pop(0)
                    self.process_task_result(node, failure)
                    done = [node]
                else:
                    future = next(self._in_flight)
                    done = pending.pop(future)
                    self._finish_batch(done, future)
                self._dispatch(done, slots - len(pending), pending)
        finally:
            for future in pending:
                future.cancel()

    def _dispatch(self, completed: list, free_slots: int, pending: dict) -> None:
        """Tell doit which tasks completed, then submit what became ready, in
        batches, filling at most `free_slots` futures."""
        ready, exhausted = [], False
        for node in completed:   # every completed node must reach the dispatcher
            job = self.get_next_job(node)
            if job is None:
                exhausted = True
                break
            if not isinstance(job, JobHold):
                ready.append(job)
        while not exhausted and len(ready) < free_slots * self.batch_size:
            job = self.get_next_job(None)
            if job is None or isinstance(job, JobHold):
                break
            ready.append(job)
        jobs = [(node, job) for node in ready if (job := self._prepare(node)) is not None]
        for batch in spread(jobs, free_slots):
            self._submit(batch, pending)

    def _prepare(self, node):
        """The (task, workspace) to send, or None for a task run here."""
        task = node.task
        if self.ship and (SHIP_META not in (task.meta or {}) or not self._shippable(task)):
            # Not declared shippable: its real inputs are unknown, so it runs
            # here, in the project, as doit's serial runner would run it.
            self._ran_here.append((node, self._execute_here(task)))
            return None
        if task.teardown:
            self.teardown_list.append(task)
        self.reporter.execute_task(task)
        self._register_project_code()
        if self._workspace.cache_url is not None:
            cached_execution.compute_key(task)   # here, where every input is
        workspace = self._workspace
        if self.ship:
            workspace = self._shipped(task, workspace)
        else:
            self._before[task.name] = _target_states(task.targets)
        return task, workspace

    def _submit(self, batch: list, pending: dict) -> None:
        import cloudpickle
        self._connect()
        tasks = [task for _, (task, _) in batch]
        try:
            payload = cloudpickle.dumps(tasks)
        except Exception:
            for task in tasks:
                JobTask(task)   # doit's own error naming the task that cannot travel
            raise
        first = tasks[0].name
        future = self._client.submit(
            dask_job.run_batch, payload, [workspace for _, (_, workspace) in batch],
            bool(self.continue_), key=f"doit-{first}-{len(batch)}-{os.urandom(4).hex()}",
            pure=False)
        pending[future] = [node for node, _ in batch]
        self._in_flight.add(future)

    def _finish_batch(self, nodes: list, future) -> None:
        try:
            outcomes: list[dask_job.JobResult] = future.result()
        except Exception as exc:   # the worker died (KilledWorker), or the job could not run
            for node in nodes:
                self._lost(node, exc)
            return
        for node, outcome in zip(nodes, outcomes):
            self._finish(node, outcome)
        # tasks after a failure in the batch did not run (fail fast): doit
        # does not hear of them, as of tasks never dispatched
        for node in nodes[len(outcomes):]:
            self._before.pop(node.task.name, None)

    def _lost(self, node, exc: Exception) -> None:
        task = node.task
        removed = _remove_changed(task.targets, self._before.pop(task.name, {}))
        note = f"; removed its unfinished targets {', '.join(removed)}" if removed else ""
        self.process_task_result(node, TaskError(
            f"Dask could not run '{task.name}': {type(exc).__name__}: {exc}{note}"))

    def _finish(self, node, outcome: dask_job.JobResult) -> None:
        task = node.task
        self._before.pop(task.name, None)
        result = outcome.result
        failure = result.get("failure")
        if failure is None and outcome.targets:
            failure = _write_shipped(outcome.targets, task)
        task.update_from_pickle(result["task"])
        for action, out, err in zip(task.actions, result["out"], result["err"]):
            action.out, action.err = out, err
        self._echo(task, result)
        if outcome.warnings:
            sys.stderr.write(outcome.warnings)
        self.process_task_result(node, failure)

    def _execute_here(self, task):
        """Run a task in this process, under the probe and the action cache, as
        `-n`'s workers do."""
        started = probe.start()
        failure = None
        try:
            failure = cached_execution.execute(
                task, lambda: super(DaskRunner, self).execute_task(task),
                lambda: self.reporter.execute_task(task))
        finally:
            measurement = probe.stop(started, failed=failure is not None)
        setattr(task, probe.TASK_ATTRIBUTE, measurement)
        return failure

    def _echo(self, task, result: dict) -> None:
        """The task's output on this console, as doit shows it for its verbosity."""
        verbosity = self.stream.effective_verbosity(task.verbosity)
        for out, err in zip(result["out"], result["err"]):
            if verbosity >= 2 and out:
                sys.stdout.write(out)
            if verbosity >= 1 and err:
                sys.stderr.write(err)

    # -- ship mode -----------------------------------------------------------

    def _shippable(self, task) -> bool:
        """Inputs and targets must be relative paths inside the project to be sent
        and brought back (the task runs in another directory); a task naming
        others runs here instead."""
        declared = (task.meta or {}).get(SHIP_META, {})
        paths = [*task.file_dep, *declared.get("inputs", ()), *task.targets]
        return all(dask_job.inside(path) for path in paths)

    def _shipped(self, task, workspace: dask_job.Workspace) -> dask_job.Workspace:
        declared = (task.meta or {}).get(SHIP_META, {})
        paths = [*task.file_dep, *declared.get("inputs", ())]
        inputs: dict[str, bytes] = {}
        for path in paths:
            for file in _files(path):
                try:
                    inputs[Path(file).as_posix()] = safe_fs.read_bytes(file)
                except UserError:
                    continue  # a link or FIFO is not shipped: the task misses it and says so
        return dataclasses.replace(workspace, inputs=inputs,
                                   scratch_ok=tuple(declared.get("scratch_ok", ())))

    def _register_project_code(self) -> None:
        """Modules of the project itself (dodo.py's `tasks/`) travel by value, so
        workers need only the installed libraries, not the project's files."""
        if self._by_value_registered:
            return
        self._by_value_registered = True
        import cloudpickle
        from importlib.metadata import packages_distributions
        for module in project_modules(sys.modules, self._root, packages_distributions()):
            try:
                cloudpickle.register_pickle_by_value(module)
            except (ValueError, TypeError):
                pass

    # -- the end -------------------------------------------------------------

    def finish(self):
        try:
            return super().finish()
        finally:
            self.finish_cluster()

    def finish_cluster(self) -> None:
        if self._starting is not None:   # not waited for yet: nothing was sent
            starting, self._starting = self._starting, None
            try:
                self._cluster, self._client = starting.result()
            except Exception:
                return   # it did not start: nothing to stop
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._cluster = self._client = None


def spread(jobs: list, slots: int) -> list[list]:
    """`jobs` cut into at most `slots` batches of nearly equal size, in order:
    ten ready tasks for four free slots travel as 3, 3, 2 and 2, so that every
    worker gets some (the caller pulls at most `slots` x batch_size jobs)."""
    count = min(max(slots, 1), len(jobs))
    if count == 0:
        return []
    size, extra = divmod(len(jobs), count)
    batches, start = [], 0
    for index in range(count):
        end = start + size + (index < extra)
        batches.append(jobs[start:end])
        start = end
    return batches


def _target_states(targets) -> dict[str, tuple[int, int] | None]:
    """(mtime_ns, size) of each target before a task is sent (None: absent)."""
    states = {}
    for target in targets:
        try:
            info = os.stat(target)
            states[target] = (info.st_mtime_ns, info.st_size)
        except OSError:
            states[target] = None
    return states


def _remove_changed(targets, before: dict[str, tuple[int, int] | None]) -> list[str]:
    """Remove the targets a task lost with its worker changed: a task that writes
    its files in place may have left half of one (doit re-runs it next time)."""
    removed = []
    for target, state in _target_states(targets).items():
        if state is not None and state != before.get(target):
            safe_fs.unlink(target)   # a link as the link
            removed.append(target)
    return removed


def _files(path: str) -> list[str]:
    """The files an input names (a directory: all below it, never through a
    link; absent: none, the task reports what it misses).  A link or FIFO among
    them is refused by `safe_fs.read_bytes`."""
    info = safe_fs.lstat(path)
    if info is None:
        return []
    if safe_fs.kind_of(info.st_mode) == safe_fs.DIRECTORY:
        return sorted(e.path for e in safe_fs.walk(path) if e.kind != safe_fs.DIRECTORY)
    return [path]


def _write_shipped(targets, task) -> TaskFailed | None:
    """Write targets that came back from a worker after checking that their bytes
    are the ones the worker digested: through the task's cache `restore` when it
    has one (which also re-records them as this checkout's files), else each
    atomically."""
    for target in targets:
        if hashlib.sha256(target.data).hexdigest() != target.sha256:
            return TaskFailed(f"--ship: target '{target.path}' arrived damaged")
    files = {target.path: target.data for target in targets}
    spec = spec_of(task)
    if spec is not None and spec.restore:
        cached_execution.restore(cache_entry.CacheEntry("", files), spec)
        return None
    for path, data in files.items():
        atomic_write(path, data)
    return None


def require_distributed() -> None:
    """A UserError when Dask distributed is not installed."""
    import importlib.util
    if importlib.util.find_spec("distributed") is None:
        raise UserError("--executor dask needs Dask distributed: "
                        "pip install 'doit-conductor[dask]'")


def connect(scheduler: str, workers: int, timeout_s: float):
    """(cluster or None, client): the scheduler at `scheduler`, or a LocalCluster
    of `workers` single-threaded worker processes.  Unreachable: a UserError."""
    import logging
    require_distributed()
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:   # installed but broken
        raise UserError(f"--executor dask: cannot import Dask distributed ({exc})") from None
    if scheduler:
        try:
            _refuse_fast(scheduler)
            return None, Client(scheduler, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {scheduler} "
                            f"({_why_unreachable(exc)}); is `dask scheduler` running?") from None
    # Workers are spawned with this process's sys.path, where doit put the
    # project directory first.  A project holding its own copy of
    # doit_conductor (a clone of this repository) would shadow the installed
    # one this process runs; they start without such entries (tasks get the
    # project directory back per batch, after doit_conductor is imported).
    # (Only then is sys.path touched: this may run in a thread of its own.)
    def start():
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.ERROR)

    cleaned = without_other_copies(sys.path)
    if cleaned == sys.path:
        cluster = start()
    else:
        saved = sys.path[:]
        sys.path[:] = cleaned
        try:
            cluster = start()
        finally:
            sys.path[:] = saved
    return cluster, Client(cluster, set_as_default=False)


def without_other_copies(path: list[str]) -> list[str]:
    """`path` less the entries holding a doit_conductor package other than the
    one imported here."""
    import doit_conductor
    mine = os.path.realpath(os.path.dirname(os.path.dirname(doit_conductor.__file__)))
    kept = []
    for entry in path:
        where = os.path.realpath(entry or ".")
        if where != mine and os.path.isfile(os.path.join(where, "doit_conductor", "__init__.py")):
            continue
        kept.append(entry)
    return kept


def _why_unreachable(exc: BaseException) -> str:
    import socket
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return type(exc).__name__


def _refuse_fast(scheduler: str) -> None:
    """An OSError when nothing listens at a tcp:// address or its host name does
    not resolve.  Dask's client retries those until its timeout (10 s by
    default); they are answers, so say so at once.  Other schemes (tls://, ...),
    hosts that do not answer and a resolver that asks to try again are left to
    the client and its timeout."""
    import socket
    from urllib.parse import urlsplit
    # "HOST:PORT" without a scheme is tcp to Dask (its default scheme)
    address = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if address.scheme != "tcp" or not address.hostname or not address.port:
        return
    try:
        socket.create_connection((address.hostname, address.port), timeout=1.0).close()
    except TimeoutError:
        return
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            return
        raise


def _worker_fingerprints(client, scheduler: str) -> dict[str, str]:
    try:
        return client.run(dask_job.fingerprint)
    except Exception as exc:   # a worker whose dask_job has no fingerprint: older code
        where = f"of {scheduler}" if scheduler else "started for this run"
        raise UserError(f"the Dask workers {where} could not say which doit-conductor they "
                        f"run ({type(exc).__name__}); restart them") from None


def check_workers(fingerprints: Mapping[str, str], mine: str, scheduler: str) -> None:
    """A UserError naming the workers whose doit-conductor code differs from
    this client's (they would build with the old code under the new one's keys).
    `scheduler` "": the LocalCluster started for this run."""
    stale = sorted(worker for worker, theirs in fingerprints.items() if theirs != mine)
    if not stale:
        return
    if not scheduler:
        raise UserError("the Dask workers started for this run import another doit-conductor "
                        "than this doit; is another copy of doit_conductor on PYTHONPATH?")
    raise UserError(f"the Dask workers {', '.join(stale)} of {scheduler} run another "
                    "doit-conductor than this doit (upgraded or edited since they "
                    "started); restart them")


def configured(scheduler: str, ship: bool, connect_timeout_s: float,
               batch_size: int = DaskRunner.batch_size) -> type[DaskRunner]:
    """A DaskRunner class bound to this run's scheduler and mode (doit
    instantiates the runner class itself, with doit's arguments only)."""
    return type("DaskRunner", (DaskRunner,), {"scheduler": scheduler, "ship": ship,
                                              "connect_timeout_s": connect_timeout_s,
                                              "batch_size": batch_size})


def project_modules(modules: dict, root: str, installed: Mapping[str, object]) -> list:
    """The top-level modules loaded from files under the project `root` that no
    installed distribution provides: those are sent to workers by value.  An
    installed package (doit_conductor itself, editable from a checkout under the
    root) is imported by name on the workers like any other library; a copy of
    it would carry classes that no longer resolve their own annotations."""
    prefix = root.rstrip(os.sep) + os.sep
    return [module for name, module in list(modules.items())
            if "." not in name and name != "__main__" and name not in installed
            and (getattr(module, "__file__", None) or "").startswith(prefix)]
