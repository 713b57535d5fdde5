"""A run as Chrome Trace Event Format (opens in Perfetto, chrome://tracing).

Pure: records in, a JSON-ready dict out.  It lives next to the records because
both sides use it: the reporter writes each run's `trace.json` with it, and
`profile-report --format trace` renders through `doit_conductor.report.trace`.
The profiling package never imports the report package.  One process (pid 1, the doit
invocation); one thread row per worker (tid = worker index: 0 is doit's main
process, 1..N the `-n` workers); per executed task one complete (`X`) event on
its worker's row; `M` metadata naming the process and rows; `C` counter events
for CPU (cores busy: the task's CPU time over its wall time) and the task's
memory peak above its start (MiB), one series per worker, each sample carrying every series so viewers
that default missing series to zero draw the same thing.

Timestamps are microseconds since the run started.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from doit_conductor.profiling.records import RunSummary, TaskRecord

PID = 1
CPU_COUNTER = "cpu (cores)"
# The probe measures a task's rise above the resident set it started with (or its
# largest child's peak), not the resident size itself: the label says so.
MEMORY_COUNTER = "task memory peak above its start (MiB)"
_MIB = 1024 * 1024


def chrome_trace(summary: RunSummary, records: Sequence[TaskRecord]) -> dict:
    """The run as a Trace Event Format document."""
    executed = [r for r in records if r.start is not None]
    executed.sort(key=lambda r: (r.start, r.name))
    workers = sorted({_worker(r) for r in executed} | ({0} if summary.workers == 0 else set()))
    events: list[dict] = [_process_name(summary)]
    events.extend(_thread_names(workers))
    events.extend(_task_event(summary.start, r) for r in executed)
    events.extend(_counter_events(summary.start, executed, workers))
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"run_id": summary.run_id, "doit_version": summary.doit_version,
                      "command": " ".join(summary.command)},
    }


def _worker(record: TaskRecord) -> int:
    return record.worker if record.worker is not None else 0


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def _process_name(summary: RunSummary) -> dict:
    return {"name": "process_name", "ph": "M", "pid": PID, "tid": 0, "ts": 0,
            "args": {"name": f"doit run {summary.run_id}"}}


def _thread_names(workers: Iterable[int]) -> list[dict]:
    events = []
    for worker in workers:
        label = "main" if worker == 0 else f"worker {worker}"
        events.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": worker, "ts": 0,
                       "args": {"name": label}})
        events.append({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": worker,
                       "ts": 0, "args": {"sort_index": worker}})
    return events


def _task_event(run_start: float, record: TaskRecord) -> dict:
    args: dict[str, object] = {"status": record.status, "measured_by": record.measured_by}
    for key in ("cpu_user_s", "cpu_sys_s", "peak_rss_bytes", "io_read_bytes",
                "io_write_bytes", "exit_status", "error"):
        value = getattr(record, key)
        if value is not None:
            args[key] = value
    if record.counters:
        args["counters"] = dict(record.counters)
    return {"name": record.name, "cat": record.status, "ph": "X",
            "ts": _us(max(0.0, record.start - run_start)), "dur": _us(max(0.0, record.wall_s)),
            "pid": PID, "tid": _worker(record), "args": args}


def _counter_events(run_start: float, executed: Sequence[TaskRecord],
                    workers: Sequence[int]) -> list[dict]:
    # Change points: a task sets its worker's level at its start, zero at its end.
    changes: list[tuple[float, int, int, float, float]] = []
    for record in executed:
        if record.cpu_user_s is None and record.peak_rss_bytes is None:
            continue  # thread mode: nothing measured to plot
        cpu = (record.cpu_user_s or 0.0) + (record.cpu_sys_s or 0.0)
        cores = cpu / record.wall_s if record.wall_s > 0 else 0.0
        memory = (record.peak_rss_bytes or 0) / _MIB
        start = max(0.0, record.start - run_start)
        # Ends sort before starts at the same instant (order 0 < 1), so a
        # worker's next task is not zeroed by the previous one's end.
        changes.append((start + max(0.0, record.wall_s), 0, _worker(record), 0.0, 0.0))
        changes.append((start, 1, _worker(record), round(cores, 3), round(memory, 3)))
    changes.sort()
    cpu_now = {f"w{w}": 0.0 for w in workers}
    memory_now = dict(cpu_now)
    events = []
    for at, _order, worker, cores, memory in changes:
        cpu_now[f"w{worker}"] = cores
        memory_now[f"w{worker}"] = memory
        ts = _us(at)
        events.append({"name": CPU_COUNTER, "ph": "C", "ts": ts, "pid": PID, "args": dict(cpu_now)})
        events.append({"name": MEMORY_COUNTER, "ph": "C", "ts": ts, "pid": PID,
                       "args": dict(memory_now)})
    return events
