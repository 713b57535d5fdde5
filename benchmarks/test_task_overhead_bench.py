"""Per-task cost of the conductor runner + reporter against doit's console reporter.

A synthetic dodo of many tasks whose action does nothing, so what is measured
is what each side pays per task: doit's own dispatch and bookkeeping on both
sides, and on ours the probe around each task, the record and its share of the
batched writes, the progress line.  The two sides run alternately (console,
conductor, conductor, console, ...) on the same dodo, serial, with doit's json
backend on both, each from a fresh state.  Figures: CPU time (user + system of
the doit process, `os.times()` around it: steadier than wall time on a shared
machine).  Target (issue 24): <= 0.3 ms per task, from the best run of each
side; the median of the paired differences is recorded next to it.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys

from bench_support import check_target

ROUNDS = 5
TASKS = {"smoke": 300, "quick": 1000, "full": 2000}
PER_TASK_TARGET_S = 0.0003
DODO = '''
def nothing():
    return True

def task_tiny():
    """{tasks} tasks that do nothing."""
    for i in range({tasks}):
        yield {{"name": f"t{{i:05d}}", "actions": [nothing]}}
'''


def cpu_of_run(root, reporter: str) -> float:
    for name in (".conductor", ".doit.db"):
        shutil.rmtree(root / name, ignore_errors=True)
        if (root / name).exists():
            (root / name).unlink()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    before = os.times()
    result = subprocess.run([sys.executable, "-m", "doit", "--backend", "json",
                             "--reporter", reporter], cwd=root, env=env,
                            capture_output=True, text=True, timeout=600)
    after = os.times()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return (after.children_user - before.children_user
            + after.children_system - before.children_system)


def test_per_task_overhead(benchmark, tmp_path, scale, enforce_targets):
    tasks = TASKS[scale]
    (tmp_path / "dodo.py").write_text(DODO.format(tasks=tasks))
    cpu: dict[str, list[float]] = {"console": [], "conductor": []}

    def pair(round_: int) -> None:
        order = ("console", "conductor") if round_ % 2 == 0 else ("conductor", "console")
        for reporter in order:
            cpu[reporter].append(cpu_of_run(tmp_path, reporter))

    rounds = iter(range(ROUNDS))
    benchmark.group = f"per-task overhead, {tasks} tasks that do nothing"
    benchmark.pedantic(lambda: pair(next(rounds)), rounds=ROUNDS, iterations=1)
    best = (min(cpu["conductor"]) - min(cpu["console"])) / tasks
    paired = statistics.median(c - p for c, p in zip(cpu["conductor"], cpu["console"])) / tasks
    benchmark.extra_info.update(
        tasks=tasks, cpu_console_s=[round(c, 3) for c in cpu["console"]],
        cpu_conductor_s=[round(c, 3) for c in cpu["conductor"]],
        per_task_paired_median_ms=round(paired * 1000, 4),
        cpu_ratio_min=round(min(cpu["conductor"]) / min(cpu["console"]), 3),
        cpu_ratio_median=round(statistics.median(cpu["conductor"]) / statistics.median(cpu["console"]), 3))
    check_target(benchmark, enforce_targets, "per_task_ms", best * 1000, best <= PER_TASK_TARGET_S,
                 f"<= {PER_TASK_TARGET_S * 1000:.1f} ms")
