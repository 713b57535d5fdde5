"""The whole workflow through the real `doit`: shape, incremental no-op, parallel
phase 2, clean, and reproducible output."""
from __future__ import annotations

import os

import pytest

import re
import subprocess
import sys

from tests.support.projects import Project

from doit_conductor.profiling.store import list_runs, load_run, metrics_root

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

PHASE_2 = ("validate-patterns", "lint-templates", "scan-output")


def listed_tasks(project: Project) -> dict[str, str]:
    out = project.doit("list", check=True).stdout
    return dict(re.match(r"(\S+)\s+(.*)", line).groups() for line in out.splitlines() if line)


def test_list_shows_22_tasks_in_workflow_order_numbered_in_their_meta(built):
    tasks = listed_tasks(built)
    assert len(tasks) == 22
    # the docstring says what the task does; its number is in its meta (issue 26)
    for name, doc in tasks.items():
        assert doc and not doc[0].isdigit() and name not in doc.split()[0], (name, doc)
    numbers = load_run(list_runs(metrics_root(built.root))[-1]).summary.task_numbers
    ordered = [line.split()[0] for line in
               built.doit("list", "--sort", "definition", check=True).stdout.splitlines()]
    assert [numbers[name] for name in ordered] == list(range(1, 23))
    assert numbers["codegen"] == 8


def test_dag_has_the_seed_shape(built):
    deps = {name: set(r.task_dep) for name, r in built.last_run().items()}

    def reaches(a: str, b: str) -> bool:
        seen, stack = set(), [a]
        while stack:
            for dep in deps.get(stack.pop(), ()):
                if dep == b:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return False

    assert reaches("load-config", "check-env")
    for task in PHASE_2:
        assert reaches(task, "load-config")
        assert not any(reaches(task, other) for other in PHASE_2 if other != task)
        assert reaches("resolve-patterns", task)
    assert reaches("plan-codegen", "resolve-patterns") and reaches("codegen", "plan-codegen")
    assert all(reaches(name, "codegen") for name in deps
               if name not in ("check-env", "load-config", *PHASE_2, "resolve-patterns",
                               "plan-codegen") and not name.startswith("codegen"))


def test_full_build_then_nothing_to_do(built):
    assert built.path("output/python/conductor_models/orders.py").is_file()
    assert built.path("output/sql/orders.sql").is_file()
    built.doit(check=True)
    statuses = built.statuses()
    assert len(statuses) > 22 and set(statuses.values()) == {"up-to-date"}


def test_phase_2_runs_concurrently_with_three_workers(tmp_path):
    root = tmp_path / "work"
    subprocess.run([sys.executable, "-m", "benchmarks.workload", str(root), "--patterns", "150"],
                   check=True, capture_output=True)
    project = Project(root)
    project.doit("-n", "3", "plan-codegen", check=True)
    records = project.last_run()
    spans = {name: (records[name].start, records[name].end, records[name].worker)
             for name in PHASE_2}
    # the two long ones run at the same time on two workers (scan-output takes a
    # millisecond: a busy machine may hand it to the worker that then takes another)
    validate, lint = spans["validate-patterns"], spans["lint-templates"]
    assert validate[2] != lint[2], spans
    assert validate[0] < lint[1] and lint[0] < validate[1], spans


def test_clean_removes_what_the_workflow_generated(built):
    assert any(built.path("output").rglob("*.py"))
    built.doit("clean", check=True)
    assert not [p for p in built.path("output").rglob("*") if p.is_file()]
    assert not list(built.path(".conductor/state").glob("*.json"))
    built.doit(check=True)
    assert built.path("output/sql/orders.sql").is_file()


def test_two_clean_builds_are_byte_identical(built, project):
    project.doit(check=True)
    assert project.tree() == built.tree()


def test_cold_parallel_report_puts_every_codegen_task_after_the_plan(project):
    """codegen:* are made by a delayed creator waiting for plan-codegen and read
    the template-set files it writes: the report's DAG must know both."""
    import json
    project.doit("-n", "3", check=True)
    report = json.loads(project.doit("profile-report", "--format", "json", check=True).stdout)
    run = report["run"]
    level = {name: group["level"] for group in run["concurrency_groups"]
             for name in group["tasks"]}
    rows = {row["name"]: row for row in run["tasks"]}
    plan = rows["plan-codegen"]
    plan_done = plan["earliest_start_s"] + plan["wall_s"]
    codegen = [name for name in rows if name.startswith("codegen:")]
    assert len(codegen) > 10
    for name in codegen:
        assert level[name] > level["plan-codegen"], name
        assert rows[name]["earliest_start_s"] >= plan_done - 1e-6, name
    path = run["critical_path"]["tasks"]
    on_path = [path.index(name) for name in codegen if name in path]
    assert on_path, path   # codegen:_manifest at least: every later task waits for it
    assert "plan-codegen" in path and path.index("plan-codegen") < min(on_path)


def test_every_file_a_task_reads_from_another_is_that_tasks_target(built):
    """doit itself, not only the report, knows the order: a file_dep that the
    workflow writes (state under .conductor/, products under output/) is a
    declared target, so doit adds the edge (implicit task_dep)."""
    records = built.last_run()
    targets = {target: name for name, r in records.items() for target in r.targets}
    for name, record in records.items():
        for path in record.file_dep:
            if path.startswith((".conductor/", "output/")):
                # a codegen batch's plan is a file of plan-codegen's target directory
                # (the batches are known once it ran): listed in task_dep too
                owner = targets.get(path, targets.get(os.path.dirname(path)))
                assert owner is not None, (name, path)
                assert owner in record.task_dep, (name, path)
    for name, record in records.items():
        if name.startswith("codegen:") and name != "codegen:_manifest":
            assert "plan-codegen" in record.task_dep, name
