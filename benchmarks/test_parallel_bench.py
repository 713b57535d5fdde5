"""`-n 3` against `-n 1` on the seed's shape: 3 independent patterns whose
compile step waits on an external compiler (a TypeScript output whose validator
takes COMPILE_DELAY_MS, as `tsc --noEmit` does in production).

Timed: cold `doit -n K codegen` after `doit plan-codegen` (tasks 1-7 are the
serial prefix before there is anything to parallelise).  Target: >= 2.5x,
asserted at every scale but smoke (the workload does not depend on the scale).
Each `-n 3` round has a `-n 1` run right next to it (before it in even rounds,
after it in odd ones: `bench_support.Partners`), so both sides of the ratio
share the minute's load: the ratio is of the best rounds of the pairs, and the
median of the paired ratios is recorded.  The `-n 1` test on its own is
recorded only, for the table.
"""
from __future__ import annotations

import pytest
from benchmarks.workload import WorkloadSpec

from bench_support import Partners, check_target, doit, paired_ratios, timed

COMPILE_DELAY_MS = 1000
SEED_SHAPE = WorkloadSpec(patterns=3, seed=1, compile_delay_ms=COMPILE_DELAY_MS, independent=True)
ROUNDS = 3
PAIRED_ROUNDS = 4   # even: as many partners before as after
TARGET = 2.5


@pytest.fixture(scope="module")
def planned(workloads):
    root = workloads.fresh(SEED_SHAPE)
    doit(root, "plan-codegen")
    return root


def built_ts(root) -> int:
    return len(list((root / "output" / "ts").glob("*.ts")))


@pytest.mark.parametrize("workers", [1, 3])
def test_seed_shape_parallel(benchmark, workers, planned, workloads, comparisons):
    roots = []

    def serial() -> float:
        root = workloads.copy(planned)
        seconds = timed(doit, root, "-n", "1", "codegen")
        assert built_ts(root) == 3
        workloads.discard(root)
        return seconds

    partners = Partners({"-n 1": serial}) if workers == 3 else None

    def setup():
        if roots:
            workloads.discard(roots[-1])
        if partners is not None:
            partners.before_round()
        roots.append(workloads.copy(planned))
        return (roots[-1], "-n", str(workers), "codegen"), {}

    benchmark.group = "seed shape: 3 patterns, external compiler"
    benchmark.extra_info["compile_delay_ms"] = COMPILE_DELAY_MS
    benchmark.pedantic(doit, setup=setup, rounds=PAIRED_ROUNDS if partners else ROUNDS,
                       iterations=1)
    assert built_ts(roots[-1]) == 3
    comparisons.record(f"seed:-n {workers}", benchmark)
    workloads.discard(roots[-1])
    if partners is None:
        return
    partners.finish()
    ours, serial_s = list(benchmark.stats.stats.data), partners.seconds["-n 1"]
    benchmark.extra_info["paired -n 1 s"] = [round(s, 4) for s in serial_s]
    over, over_median = paired_ratios(ours, serial_s)
    benchmark.extra_info["speedup_n3_over_n1_median"] = round(1 / over_median, 3)
    check_target(benchmark, True, "speedup_n3_over_n1", 1 / over, 1 / over >= TARGET,
                 f">= {TARGET}")
