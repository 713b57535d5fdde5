"""Pure parts of the reporter and the command's runner swap."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from doit import cmd_run, runner as doit_runner
from doit.exceptions import TaskError, TaskFailed
from doit.reporter import ConsoleReporter

from doit_conductor.profiling import progress
from doit_conductor.glue import runner as probed
from doit_conductor.glue.run_command import ProfilingRun, probed_runners
from doit_conductor.profiling.records import FAILED, RAN, TaskRecord
from doit_conductor.glue.reporter import ConductorReporter, error_text, is_user_error, totals


def _task(task_dep=(), setup=(), calc=()):
    return SimpleNamespace(task_dep=list(task_dep), setup_tasks=list(setup), calc_dep=set(calc))


def test_tasks_in_run_follows_every_kind_of_dependency():
    tasks = {"all": _task(["a", "b"]), "a": _task(setup=["s"]), "b": _task(calc=["c"]),
             "s": _task(), "c": _task(["missing"]), "other": _task()}
    assert progress.tasks_in_run(tasks, ["all"]) == {"all", "a", "b", "s", "c"}
    assert progress.tasks_in_run(tasks, ["other", "nope"]) == {"other"}
    assert progress.dependencies(tasks["a"]) == ["s"]


def test_progress_counts_and_estimates_work_left():
    tracker = progress.RunProgress({"a", "b", "new"})
    assert tracker.left_s(1) is None  # no earlier durations yet
    tracker.finish("new")
    tracker.set_previous({"a": 2.0, "b": 4.0, "new": 9.0})
    assert tracker.left_s(0) == 6.0 and tracker.left_s(2) == 3.0
    tracker.finish("b")
    tracker.finish("b")  # a second outcome changes nothing
    assert tracker.left_s(1) == 2.0 and len(tracker.done) == 2 and tracker.total == 3
    tracker.widen({"a", "late"})
    tracker.finish("unexpected")
    assert tracker.total == 5 and tracker.left_s(1) == 2.0
    tracker.finish("a")
    assert tracker.left_s(1) is None


def test_progress_line():
    # "took": the task's own time, not the time since the run began
    assert progress.progress_line(3, 22, "render", 0.214, 3.44) == "[3/22] render took 0.21s, ~3.44s left"
    assert progress.progress_line(5, 4, "x", 12.0, None) == "[5/5] x took 12.0s"
    assert progress.progress_line(1, 2, "x", 0.0, 150.0) == "[1/2] x took 0.00s, ~2m30s left"
    assert progress.final_line(19, 19, 1.214) == "[19/19] run ended after 1.21s"


def test_user_errors_are_one_line_task_failures():
    assert is_user_error(TaskFailed("patterns/x.yaml:3: unknown key 'nme'"))
    assert not is_user_error(TaskFailed("two\nlines"))
    assert not is_user_error(TaskError("PythonAction Error", ZeroDivisionError("x")))
    try:
        1 / 0
    except ZeroDivisionError as exc:
        with_traceback = TaskFailed("failed", exc)
    assert not is_user_error(with_traceback)
    assert error_text(with_traceback) == "TaskFailed: failed (ZeroDivisionError: division by zero)"


def test_totals():
    records = (TaskRecord(name="a", status=RAN, wall_s=1.0, cpu_user_s=0.5, cpu_sys_s=0.1,
                          peak_rss_bytes=10, io_read_bytes=3, io_write_bytes=4),
               TaskRecord(name="b", status=FAILED, wall_s=2.0, peak_rss_bytes=30),
               TaskRecord(name="c", status=RAN))
    assert totals(records) == {"tasks": 3, "wall_s": 3.0, "cpu_user_s": 0.5, "cpu_sys_s": 0.1,
                               "io_read_bytes": 3, "io_write_bytes": 4, "peak_rss_bytes": 30}


def test_runner_swap_is_scoped_and_restored_on_error():
    with pytest.raises(RuntimeError):
        with probed_runners():
            assert cmd_run.Runner is probed.ProbedRunner
            assert cmd_run.MRunner is probed.ProbedMRunner
            assert cmd_run.MThreadRunner is probed.ProbedMThreadRunner
            raise RuntimeError("boom")
    assert cmd_run.Runner is doit_runner.Runner
    assert cmd_run.MRunner is doit_runner.MRunner
    assert cmd_run.MThreadRunner is doit_runner.MThreadRunner


def test_probed_runners_are_doits_runners():
    assert issubclass(probed.ProbedRunner, doit_runner.Runner)
    assert issubclass(probed.ProbedMRunner, doit_runner.MRunner)
    assert issubclass(probed.ProbedMThreadRunner, doit_runner.MThreadRunner)


def test_run_command_plugin_is_ours():
    from doit.doit_cmd import DoitMain
    assert DoitMain().get_cmds().to_dict()["run"] is ProfilingRun


def test_only_reporters_that_ask_get_probes():
    from doit.cmd_base import DodoTaskLoader
    command = ProfilingRun(task_loader=DodoTaskLoader(), config={})
    assert command.get_name() == "run"
    assert command._wants_probe("conductor")
    assert command._wants_probe(ConductorReporter)
    assert not command._wants_probe("console")
    assert not command._wants_probe(ConsoleReporter)
    assert not command._wants_probe("no-such-reporter")
    # doit's own run options, in doit's order, then only the scale-out ones
    # (doit_conductor.scale.run_options), which are inert unless given.
    doit_options = [o.name for o in cmd_run.Run(task_loader=DodoTaskLoader(),
                                                 config={}).get_options()]
    assert ([o.name for o in command.get_options()]
            == doit_options + ["cache", "executor", "scheduler", "ship"])
