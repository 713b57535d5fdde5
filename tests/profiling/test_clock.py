"""The probe and the reporter read time from an injected clock: known answers
under any load."""
from __future__ import annotations

import io
import json

from doit.task import Task

from doit_conductor.glue.reporter import ConductorReporter
from doit_conductor.profiling import probe
from tests.support.clock import FakeTime


def test_the_probe_measures_wall_time_on_the_clock_it_is_given():
    fake = FakeTime()
    started = probe.start(clock=fake.clock)
    fake.advance(2.5)
    measured = probe.stop(started)
    assert measured.wall_s == 2.5 and measured.start == fake.epoch
    threaded = probe.start(thread_mode=True, clock=fake.clock)
    fake.advance(0.25)
    assert probe.stop(threaded).wall_s == 0.25


def test_the_reporter_times_unprobed_tasks_and_the_run_on_its_clock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake = FakeTime()
    out = io.StringIO()
    reporter = ConductorReporter(out, {"verbosity": 1, "failure_verbosity": 0})
    reporter.clock = fake.clock
    tasks = {"a": Task("a", [lambda: True]), "b": Task("b", [lambda: True])}
    reporter.initialize(tasks, ["a", "b"])
    for name, seconds in (("a", 1.5), ("b", 0.75)):
        reporter.execute_task(tasks[name])
        fake.advance(seconds)
        reporter.add_success(tasks[name])
    reporter.complete_run()
    run_dir = next((tmp_path / ".conductor" / "metrics" / "runs").iterdir())
    records = {r["name"]: r for r in map(json.loads, (run_dir / "tasks.jsonl").read_text().splitlines())}
    assert records["a"]["wall_s"] == 1.5 and records["b"]["wall_s"] == 0.75
    assert records["a"]["start"] == fake.epoch
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["wall_s"] == 2.25 and summary["start"] == fake.epoch


def test_progress_lines_are_held_back_within_the_interval_and_the_end_is_said():
    from doit_conductor.glue.progress_lines import INTERVAL_S, ProgressLines
    fake = FakeTime()
    tasks = {name: Task(name, [lambda: True]) for name in ("a", "b", "c", "d")}
    lines = ProgressLines(tasks, list(tasks), fake.clock)
    shown = []
    for name, seconds in (("a", 0.1), ("b", 0.1), ("c", INTERVAL_S), ("d", 0.1)):
        fake.advance(seconds)
        lines.finished(name, seconds)
        shown.append(lines.line(name, seconds, workers=1, history=lambda: None))
    # a shows; b comes within the interval; c after it; d is the last: always shown
    assert [line is not None for line in shown] == [True, False, True, True]
    assert shown[0].startswith("[1/4] a ") and shown[3].startswith("[4/4] d ")
    assert lines.closing() is None          # the last line showed: nothing to add
    held = ProgressLines(tasks, list(tasks), fake.clock)
    held.finished("a", 0.1)
    assert held.line("a", 0.1, 1, lambda: None) is not None
    fake.advance(0.2)
    held.finished("b", 0.1)
    assert held.line("b", 0.1, 1, lambda: None) is None
    assert held.closing() == "[2/4] run ended after 0.20s"
