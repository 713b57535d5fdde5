"""Chrome Trace Event Format: what each event type must carry, on known records."""
from __future__ import annotations

import json
import numbers

from doit_conductor.profiling.records import RAN, UP_TO_DATE, RunSummary, TaskRecord
from doit_conductor.profiling.trace import CPU_COUNTER, MEMORY_COUNTER, chrome_trace

START = 1_700_000_000.0
REQUIRED = {
    "X": ("name", "ph", "ts", "dur", "pid", "tid"),
    "C": ("name", "ph", "ts", "pid", "args"),
    "M": ("name", "ph", "pid", "args"),
}


def assert_valid_trace(trace: dict) -> None:
    """The checks a Trace Event Format reader relies on."""
    json.dumps(trace)  # serialisable as it is
    assert trace.get("displayTimeUnit") in ("ms", "ns")
    events = trace["traceEvents"]
    assert isinstance(events, list) and events
    named_threads = set()
    for event in events:
        phase = event.get("ph")
        assert phase in REQUIRED, event
        for key in REQUIRED[phase]:
            assert key in event, (key, event)
        assert isinstance(event["name"], str) and event["name"]
        assert isinstance(event["pid"], int)
        if "ts" in event:
            assert isinstance(event["ts"], numbers.Real) and event["ts"] >= 0
        if phase == "X":
            assert isinstance(event["tid"], int)
            assert isinstance(event["dur"], numbers.Real) and event["dur"] >= 0
        elif phase == "C":
            assert event["args"] and all(isinstance(v, numbers.Real)
                                         for v in event["args"].values()), event
        elif event["name"] == "thread_name":
            assert isinstance(event["args"].get("name"), str)
            named_threads.add((event["pid"], event["tid"]))
    rows = {(e["pid"], e["tid"]) for e in events if e["ph"] == "X"}
    assert rows <= named_threads, "every row with tasks has a thread_name"


def _summary(workers: int = 2) -> RunSummary:
    return RunSummary(run_id="20240101T000000.000000Z-1", command=("doit", "-n", "2"),
                      doit_version="0.37.0", workers=workers, parallel_type="process",
                      start=START, end=START + 3, wall_s=3.0, counts={}, totals={},
                      host={}, completed=True)


def _record(name, worker, start, wall, cpu=0.5, rss=10 * 1024 * 1024, **kw) -> TaskRecord:
    return TaskRecord(name=name, status=RAN, start=START + start, end=START + start + wall,
                      wall_s=wall, cpu_user_s=cpu, cpu_sys_s=0.0, peak_rss_bytes=rss,
                      worker=worker, **kw)


def test_trace_of_known_records():
    records = [_record("a", 1, 0.0, 1.0, cpu=1.0),
               _record("b", 2, 0.5, 2.0, counters={"hits": 3}),
               _record("c", 1, 1.0, 1.0),
               TaskRecord(name="d", status=UP_TO_DATE)]
    trace = chrome_trace(_summary(), records)
    assert_valid_trace(trace)
    events = trace["traceEvents"]
    tasks = {e["name"]: e for e in events if e["ph"] == "X"}
    assert set(tasks) == {"a", "b", "c"}  # up-to-date tasks did not execute
    assert tasks["b"]["ts"] == 500_000 and tasks["b"]["dur"] == 2_000_000
    assert tasks["b"]["tid"] == 2 and tasks["b"]["args"]["counters"] == {"hits": 3}
    threads = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert threads == {1: "worker 1", 2: "worker 2"}

    cpu = [e for e in events if e["ph"] == "C" and e["name"] == CPU_COUNTER]
    # At 1.0 s task a ends and c starts on worker 1; c's start wins.
    at_one = [e["args"] for e in cpu if e["ts"] == 1_000_000]
    assert at_one[-1] == {"w1": 0.5, "w2": 0.25}
    assert cpu[-1]["args"] == {"w1": 0.0, "w2": 0.0}
    memory = [e for e in events if e["ph"] == "C" and e["name"] == MEMORY_COUNTER]
    assert memory[0]["args"] == {"w1": 10.0, "w2": 0.0}


def test_serial_run_has_the_main_row_and_thread_mode_no_counters():
    records = [TaskRecord(name="t", status=RAN, start=START, end=START + 1, wall_s=1.0,
                          worker=0, measured_by="wall-only (thread mode)")]
    trace = chrome_trace(_summary(workers=0), records)
    assert_valid_trace(trace)
    assert [e for e in trace["traceEvents"] if e["ph"] == "C"] == []
    names = [e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"]
    assert names == ["main"]


def test_the_memory_counter_is_labelled_as_what_the_probe_measures():
    # peak_rss_bytes is the task's rise above its starting resident set, not a resident size
    assert MEMORY_COUNTER == "task memory peak above its start (MiB)"
