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
