"""The review's baseline layout: timestamped names, task-<N>-profile.json, summary.json."""
from __future__ import annotations

import pytest

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

from tests.support.doit import run_doit
from tests.support.records import record, summary, write_run

from doit_conductor.profiling.records import UP_TO_DATE
from doit_conductor.profiling.store import load_run, metrics_root
from doit_conductor.profiling.task_profiles import profile_key, task_numbers
from doit_conductor.report.command import with_baseline_name

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

RUN = "20240101T000000.000000Z-1"
RECORDS = [
    record("load-config", 0.25, start=0.0, peak_rss_bytes=1000),
    record("codegen", 0.0, ["load-config"], status=UP_TO_DATE),
    record("codegen:a", 1.0, ["load-config"], start=0.25, peak_rss_bytes=3000, cpu_user_s=0.5,
           counters={"files_compiled": 2}),
    record("codegen:b", 0.5, ["load-config"], start=0.5, peak_rss_bytes=2000, cpu_user_s=0.25,
           counters={"files_compiled": 1}),
    record("hello:x", 0.25, start=0.0),
]
NUMBERS = {"load-config": 2, "codegen": 8}


def profile_report(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run_doit(project, "profile-report", *args, timeout=120)


def test_save_baseline_without_a_name_writes_the_review_layout(tmp_path):
    write_run(tmp_path, replace(summary(RUN, wall=2.0), task_numbers=NUMBERS), RECORDS)
    result = profile_report(tmp_path, "--save-baseline", "--format", "json")
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)  # --format json was not taken as the name
    baselines = metrics_root(tmp_path) / "baselines"
    (name,) = [p.name for p in baselines.iterdir()]
    assert re.fullmatch(r"\d{8}_\d{6}", name) and name == "20231114_221320"  # RUN_START, UTC
    directory = baselines / name
    files = {p.name for p in directory.iterdir()}
    assert {"task-2-profile.json", "task-8-profile.json", "task-hello-profile.json",
            "summary.json"} <= files

    task8 = json.loads((directory / "task-8-profile.json").read_text())
    assert (task8["task"], task8["name"], task8["status"], task8["subtasks"]) == (8, "codegen", "ran", 2)
    assert task8["wall_s"] == 1.5  # summed; elapsed: 0.25 .. 1.25 and 0.5 .. 1.0
    assert abs(task8["span_s"] - 1.0) < 1e-6
    assert task8["peak_rss_bytes"] == 3000 and task8["cpu_user_s"] == 0.75
    assert task8["counters"] == {"files_compiled": 3}
    assert [r["name"] for r in task8["records"]] == ["codegen", "codegen:a", "codegen:b"]

    aggregated = json.loads((directory / "summary.json").read_text())
    rows = aggregated["workflow_tasks"]["tasks"]
    assert [(r["task"], r["file"]) for r in rows] == [
        (2, "task-2-profile.json"), (8, "task-8-profile.json"), (None, "task-hello-profile.json")]
    assert aggregated["workflow_tasks"]["slowest"] == "codegen"
    assert abs(sum(r["share"] for r in rows) - 1.0) < 1e-12
    # still a run the report reads: compare against it by its name
    assert load_run(directory).summary.run_id == RUN
    again = profile_report(tmp_path, "--baseline", name)
    assert again.returncode == 0, again.stderr


def test_named_baseline_and_numbers_from_task_metadata():
    assert with_baseline_name(["--save-baseline", "main", "-o", "x"]) == [
        "--save-baseline", "main", "-o", "x"]
    assert with_baseline_name(["--save-baseline"])[0].startswith("--save-baseline=")
    numbers = task_numbers([("codegen", {"number": 8, "phase": 3}), ("other", None),
                            ("bad", {"number": "8"}), ("flag", {"number": True})])
    assert numbers == {"codegen": 8}
    assert profile_key("codegen:users", numbers) == "8"
    assert profile_key("my task:x/y", numbers) == "my_task"
