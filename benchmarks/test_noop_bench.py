"""Warm no-op `doit` of the full workflow against both plain-doit references.

Targets (1,000 patterns, issue 16): at most 0.15 s, and at most 0.5x the careful
reference's no-op, measured side by side in this run (the naive reference's is
recorded too: its no-op is the same code path, so the same figure).
"""
from __future__ import annotations

import pytest

from bench_support import check_targets, doit, executed
from benchmarks.workload import WorkloadSpec

ROUNDS = 9
RATIO_TARGET = 0.5
ABSOLUTE_TARGET_S = 0.15
PROJECTS = ["naive", "careful", "conductor"]


@pytest.fixture(scope="module")
def built(workloads, patterns):
    """The workload and its reference copies, each built once (and run once more,
    so the no-op measured is the steady one, not the first after a build)."""
    spec = WorkloadSpec(patterns)
    roots = {"conductor": workloads.fresh(spec)}
    roots.update({style: workloads.fresh_reference(spec, style) for style in ("naive", "careful")})
    for root in roots.values():
        doit(root, "-n", "2")
        doit(root)
    return roots


@pytest.mark.parametrize("project", PROJECTS)
def test_noop(benchmark, built, project, comparisons, enforce_targets, patterns):
    root = built[project]
    benchmark.group = f"no-op, {patterns} patterns"
    benchmark.extra_info["patterns"] = patterns
    result = benchmark.pedantic(doit, args=(root,), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert executed(result) == [], "a no-op run executed tasks"
    best = comparisons.record(f"noop:{project}", benchmark)
    if project != "conductor":
        return
    benchmark.extra_info["absolute_s"] = round(best, 4)
    benchmark.extra_info["fast_path"] = result.stdout.strip().splitlines()[-1:]
    for style in ("naive", "careful"):
        reference = comparisons.best(f"noop:{style}")
        if reference is not None:
            benchmark.extra_info[f"ratio_to_{style}"] = round(best / reference, 3)
    careful = comparisons.best("noop:careful")
    if careful is None:
        pytest.skip("the careful reference was not measured in this run: no ratio")
    check_targets(benchmark, enforce_targets,
                  ("ratio_to_careful", best / careful, best / careful <= RATIO_TARGET,
                   f"<= {RATIO_TARGET}"),
                  ("absolute_s", best, best <= ABSOLUTE_TARGET_S, f"<= {ABSOLUTE_TARGET_S} s"))
