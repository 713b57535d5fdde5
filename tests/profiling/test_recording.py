"""The reporter's pure half: records, unfinished tasks and summaries from plain values."""
from __future__ import annotations

import ast
from pathlib import Path

from doit_conductor.profiling.probe import Measurement
from doit_conductor.profiling.recording import (
    INTERRUPTED, TaskPlace, error_text, final_summary, task_record, unfinished)
from doit_conductor.profiling.records import FAILED, NOT_RUN, RAN, RunSummary

PACKAGE = Path(__file__).resolve().parents[2] / "doit_conductor"


def test_task_record_carries_the_place_and_the_measurement():
    place = TaskPlace(task_dep=("a",), setup=("s",), calc_dep=("c",), file_dep=("in.txt",),
                      targets=("out.txt",), create_after="plan")
    measured = Measurement(100.0, 2.0, 1.5, 0.25, 4096, 1024, None, 10, 20, 0, 77, "rusage",
                           {"hits": 3})
    record = task_record("t", RAN, place, measured, 2, None)
    assert (record.start, record.end, record.wall_s, record.worker) == (100.0, 102.0, 2.0, 2)
    assert (record.task_dep, record.setup, record.calc_dep) == (("a",), ("s",), ("c",))
    assert (record.file_dep, record.targets, record.create_after) == (
        ("in.txt",), ("out.txt",), "plan")
    assert record.counters == {"hits": 3} and record.measured_by == "rusage"
    unmeasured = task_record("u", FAILED, TaskPlace(), None, None, "TaskError: x")
    assert unmeasured.exit_status == 1 and unmeasured.start is None


def test_unfinished_tasks_of_an_interrupted_run():
    outcomes = unfinished(started=["b", "a", "done"], recorded={"done"},
                          in_run=["a", "b", "done", "later", "early"])
    assert outcomes == [("a", FAILED, INTERRUPTED), ("b", FAILED, INTERRUPTED),
                        ("early", NOT_RUN, None), ("later", NOT_RUN, None)]


def test_a_task_never_reached_in_a_run_not_stopped_gets_no_outcome():
    # a setup task of tasks that were all up to date
    assert unfinished(started=["a"], recorded={"a"}, in_run=["a", "setup"],
                      stopped=False) == []


def test_error_text_keeps_the_exception_line_and_a_bounded_length():
    assert error_text("TaskError", " boom \n", ["Traceback\n", "ValueError: x\n"]) == \
        "TaskError: boom (ValueError: x)"
    assert len(error_text("TaskFailed", "x" * 10_000, None)) == 4000


def test_final_summary_counts_every_status():
    initial = RunSummary("r", ("doit",), "0.37.0", 0, "serial", 1.0, None, None, {}, {}, {}, False)
    records = (task_record("a", RAN, TaskPlace(), None, None, None),
               task_record("b", NOT_RUN, TaskPlace(), None, None, None))
    summary = final_summary(initial, records, 5.0, 4.0, completed=True)
    assert summary.counts["ran"] == 1 and summary.counts["not-run"] == 1
    assert summary.counts["failed"] == 0 and summary.completed and summary.end == 5.0


def test_profiling_never_imports_the_report_package():
    """report reads profiling's records and store; never the other way round."""
    for path in sorted((PACKAGE / "profiling").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith("doit_conductor.report"), (path.name, name)
