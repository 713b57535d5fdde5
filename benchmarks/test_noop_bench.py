"""Warm no-op `doit` of the full workflow against the plain-doit reference.

Targets (1,000 patterns): at most 0.7x the reference's time (asserted), and at
most 0.25 s (absolute: docs/performance.md has the figure).
"""
from __future__ import annotations

import pytest

from bench_support import check_target, doit, executed
from benchmarks.workload import WorkloadSpec

ROUNDS = 9
RATIO_TARGET = 0.7


@pytest.fixture(scope="module")
def built(workloads, patterns):
    """The workload and its reference copy, each built once."""
    spec = WorkloadSpec(patterns)
    ours, reference = workloads.fresh(spec), workloads.fresh_reference(spec)
    doit(ours, "-n", "2")
    doit(reference, "-n", "2")
    return {"conductor": ours, "reference": reference}


@pytest.mark.parametrize("project", ["reference", "conductor"])
def test_noop(benchmark, built, project, comparisons, enforce_targets, patterns):
    root = built[project]
    benchmark.group = f"no-op, {patterns} patterns"
    benchmark.extra_info["patterns"] = patterns
    result = benchmark.pedantic(doit, args=(root,), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert executed(result) == [], "a no-op run executed tasks"
    best = comparisons.record(f"noop:{project}", benchmark)
    if project == "conductor":
        reference = comparisons.best("noop:reference")
        if reference is None:
            pytest.skip("the reference was not measured in this run: no ratio")
        ratio = best / reference
        check_target(benchmark, enforce_targets, "ratio_to_reference", ratio,
                     ratio <= RATIO_TARGET, f"<= {RATIO_TARGET}")
        benchmark.extra_info["absolute_s"] = round(best, 4)
        benchmark.extra_info["absolute_target"] = "<= 0.25 s (documented, not asserted)"
