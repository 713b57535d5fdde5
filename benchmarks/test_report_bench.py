"""`doit profile-report` on a 10,000-task run: load + analyse + render in under 1 s."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench_support import check_target
from doit_conductor.profiling.records import RAN, UP_TO_DATE, RunSummary, TaskRecord
from doit_conductor.profiling.store import RunWriter, load_run, metrics_root
from doit_conductor.report.analysis import Report, analyse_run
from doit_conductor.report.dag import build_graph
from doit_conductor.report.render_html import render_html
from doit_conductor.report.render_json import render_json
from doit_conductor.report.render_text import render_text
from doit_conductor.report.schedule import simulate_schedule
from doit_conductor.report.trace import chrome_trace

TASKS = 10_000
LAYERS = 100
WORKERS = 8
TARGET_S = 1.0
START = 1_700_000_000.0


def synthetic_records(seed: int = 5) -> list[TaskRecord]:
    """A layered DAG (100 layers of 100 tasks, 1-3 deps each on the layer below),
    timed by replaying it on 8 workers so starts, ends and workers are consistent."""
    rng = random.Random(seed)
    width = TASKS // LAYERS
    plan = []
    for layer in range(LAYERS):
        for i in range(width):
            name = f"layer{layer:03d}:task{i:03d}"
            deps = () if layer == 0 else tuple(sorted({
                f"layer{layer - 1:03d}:task{rng.randrange(width):03d}" for _ in range(rng.randint(1, 3))}))
            status = UP_TO_DATE if rng.random() < 0.1 else RAN
            plan.append(TaskRecord(name=name, status=status, wall_s=rng.uniform(0.001, 0.2),
                                   task_dep=deps))
    slots = simulate_schedule(build_graph(plan), WORKERS).slots
    records = []
    for r in plan:
        slot = slots[r.name]
        ran = r.status == RAN
        records.append(TaskRecord(
            name=r.name, status=r.status, task_dep=r.task_dep,
            start=START + slot.start_s if ran else None, end=START + slot.end_s if ran else None,
            wall_s=r.wall_s if ran else 0.0, worker=slot.worker + 1 if ran else None,
            cpu_user_s=r.wall_s * 0.8 if ran else None, cpu_sys_s=r.wall_s * 0.1 if ran else None,
            peak_rss_bytes=rng.randrange(30, 300) * 2**20 if ran else None,
            io_read_bytes=rng.randrange(1 << 20) if ran else None,
            io_write_bytes=rng.randrange(1 << 20) if ran else None,
            counters={"template_cache_hits": 3, "template_cache_misses": 1, "files_rendered": 4},
            measured_by="probe"))
    return records


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("bench")
    records = synthetic_records()
    wall = max(r.end for r in records if r.end is not None) - START + 0.5
    summary = RunSummary(run_id="20240101T000000.000000Z-1", command=("doit", "-n", str(WORKERS)),
                         doit_version="0.37.0", workers=WORKERS, parallel_type="process",
                         start=START, end=START + wall, wall_s=wall, counts={}, totals={},
                         host={}, completed=True)
    writer = RunWriter(metrics_root(project), summary)
    for record in records:
        writer.append(record)
    writer.finish(summary, chrome_trace(summary, records))
    return writer.path


RENDERERS = {
    "text": render_text,
    "json": render_json,
    "html": render_html,
}


@pytest.mark.parametrize("format", sorted(RENDERERS))
def test_report_on_10000_tasks(benchmark, run_dir: Path, format: str) -> None:
    render = RENDERERS[format]

    def load_analyse_render() -> str:
        run = load_run(run_dir)
        analysis = analyse_run(run.summary.run_id, run.summary, run.tasks)
        return render(Report(run=analysis))

    output = benchmark.pedantic(load_analyse_render, rounds=7, iterations=1, warmup_rounds=1)
    assert len(load_run(run_dir).tasks) == TASKS
    assert output
    # The fastest round: on a shared machine, rounds that neighbours slowed
    # down measure the neighbours (the timeit docs make the same point).
    best = benchmark.stats.stats.min
    check_target(benchmark, True, f"{format}_min_s", best, best < TARGET_S, f"< {TARGET_S} s")
