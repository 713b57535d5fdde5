"""`-n 3` against `-n 1` on the seed's shape: 3 independent patterns whose
compile step waits on an external compiler (a TypeScript output whose validator
takes COMPILE_DELAY_MS, as `tsc --noEmit` does in production).

Timed: cold `doit -n K codegen` after `doit plan-codegen` (tasks 1-7 are the
serial prefix before there is anything to parallelise).  Target: >= 2.5x,
asserted at every scale but smoke (the workload does not depend on the scale).
"""
from __future__ import annotations

import pytest
from benchmarks.workload import WorkloadSpec

from bench_support import check_target, doit

COMPILE_DELAY_MS = 1000
SEED_SHAPE = WorkloadSpec(patterns=3, seed=1, compile_delay_ms=COMPILE_DELAY_MS, independent=True)
ROUNDS = 3
TARGET = 2.5


@pytest.fixture(scope="module")
def planned(workloads):
    root = workloads.fresh(SEED_SHAPE)
    doit(root, "plan-codegen")
    return root


@pytest.mark.parametrize("workers", [1, 3])
def test_seed_shape_parallel(benchmark, workers, planned, workloads, comparisons):
    roots = []

    def setup():
        if roots:
            workloads.discard(roots[-1])
        roots.append(workloads.copy(planned))
        return (roots[-1], "-n", str(workers), "codegen"), {}

    benchmark.group = "seed shape: 3 patterns, external compiler"
    benchmark.extra_info["compile_delay_ms"] = COMPILE_DELAY_MS
    benchmark.pedantic(doit, setup=setup, rounds=ROUNDS, iterations=1)
    assert len(list((roots[-1] / "output" / "ts").glob("*.ts"))) == 3
    best = comparisons.record(f"seed:-n {workers}", benchmark)
    if workers == 3:
        one = comparisons.best("seed:-n 1")
        if one is None:
            pytest.skip("-n 1 was not measured in this run")
        check_target(benchmark, True, "speedup_n3_over_n1", one / best, one / best >= TARGET,
                     f">= {TARGET}")
