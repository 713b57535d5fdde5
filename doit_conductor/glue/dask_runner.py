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
import os
import sys
from pathlib import Path

from doit.exceptions import TaskError, TaskFailed
from doit.runner import JobHold, JobTask, MRunner

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write
from doit_conductor.scale import cache_entry, dask_cluster
from doit_conductor.scale import ship as shipping
from doit_conductor.glue import cached_execution, compat, dask_job, execution
from doit_conductor.glue.cached_execution import ActionCache
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
    action_cache: ActionCache | None = None   # the run's (set by `configured`)

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
        if self.scheduler or dask_cluster.without_other_copies(sys.path) != sys.path:
            self._connect()
        else:
            # The LocalCluster starts (~0.5 s) while doit walks the tasks up to
            # the first batch.  Not when its workers need another sys.path:
            # swapping it would race with this thread's imports.
            dask_cluster.require_distributed()
            from concurrent.futures import ThreadPoolExecutor
            starter = ThreadPoolExecutor(1, thread_name_prefix="conductor-dask-start")
            self._starting = starter.submit(dask_cluster.connect, "", self.num_process,
                                            self.connect_timeout_s)
            starter.shutdown(wait=False)
        self._root = os.getcwd()
        cache = self.action_cache
        self._workspace = shipping.Workspace(self._root, (self._root,),
                                         cache_url=cache.url if cache is not None else None)
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
            self._cluster, self._client = dask_cluster.connect(self.scheduler, self.num_process,
                                                  self.connect_timeout_s)
        try:
            dask_cluster.check_workers(_worker_fingerprints(self._client, self.scheduler),
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
        node = compat.next_ready_node(self, completed)
        return JobHold() if node is compat.HOLD else node

    def run_tasks(self, task_dispatcher):
        """Ready tasks travel in batches of up to `batch_size`, at most `-n` batches
        in flight, so at most `-n` tasks run at once on a cluster of any size.
        On the LocalCluster started for the run, whose `-n` single-threaded
        workers bound that themselves, two batches per worker are in flight: a
        worker starts its next batch while the last one's result travels back."""
        compat.start_run(self, task_dispatcher)
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
            compat.add_teardown(self, task)
        self.reporter.execute_task(task)
        self._register_project_code()
        if self.action_cache is not None:
            cached_execution.compute_key(task)   # here, where every input is
        workspace = self._workspace
        if self.ship:
            workspace = self._shipped(task, workspace)
        else:
            self._before[task.name] = shipping.target_states(task.targets)
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
        removed = shipping.remove_changed(task.targets, self._before.pop(task.name, {}))
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
        compat.apply_worker_result(task, result["task"])
        for action, out, err in zip(task.actions, result["out"], result["err"]):
            action.out, action.err = out, err
        self._echo(task, result)
        if outcome.warnings:
            sys.stderr.write(outcome.warnings)
        self.process_task_result(node, failure)

    def _execute_here(self, task):
        """Run a task in this process through the execution chain, as `-n`'s
        workers do."""
        return execution.execute_task(
            task, lambda: super(DaskRunner, self).execute_task(task),
            lambda: self.reporter.execute_task(task), self.action_cache)

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
        return all(shipping.inside(path) for path in paths)

    def _shipped(self, task, workspace: shipping.Workspace) -> shipping.Workspace:
        declared = (task.meta or {}).get(SHIP_META, {})
        paths = [*task.file_dep, *declared.get("inputs", ())]
        inputs: dict[str, bytes] = {}
        for path in paths:
            for file in shipping.files_of(Path(path)):
                try:
                    inputs[file.as_posix()] = safe_fs.read_bytes(file)
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
        for module in dask_cluster.project_modules(sys.modules, self._root, packages_distributions()):
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


def _write_shipped(targets, task) -> TaskFailed | None:
    """Write targets that came back from a worker after checking that their bytes
    are the ones the worker digested: through the task's cache `restore` when it
    has one (which also re-records them as this checkout's files), else each
    atomically."""
    bad = shipping.damaged(targets)
    if bad is not None:
        return TaskFailed(f"--ship: target '{bad}' arrived damaged")
    files = {target.path: target.data for target in targets}
    spec = spec_of(task)
    if spec is not None and spec.restore:
        cached_execution.restore(cache_entry.CacheEntry("", files), spec)
        return None
    for path, data in files.items():
        atomic_write(path, data)
    return None


def _worker_fingerprints(client, scheduler: str) -> dict[str, str]:
    try:
        return client.run(dask_job.fingerprint)
    except Exception as exc:   # a worker whose dask_job has no fingerprint: older code
        where = f"of {scheduler}" if scheduler else "started for this run"
        raise UserError(f"the Dask workers {where} could not say which doit-conductor they "
                        f"run ({type(exc).__name__}); restart them") from None


def configured(scheduler: str, ship: bool, connect_timeout_s: float,
               batch_size: int = DaskRunner.batch_size,
               cache: ActionCache | None = None) -> type[DaskRunner]:
    """A DaskRunner class bound to this run's scheduler and mode (doit
    instantiates the runner class itself, with doit's arguments only)."""
    return type("DaskRunner", (DaskRunner,), {"scheduler": scheduler, "ship": ship,
                                              "connect_timeout_s": connect_timeout_s,
                                              "batch_size": batch_size,
                                              "action_cache": cache})


