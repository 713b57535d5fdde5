"""Cold code generation: nothing built, every pattern rendered, compiled, written.

Targets (1,000 patterns, CPU-bound workload, no external compiler):
* `doit -n 2 codegen` at least 5x faster than the plain-doit reference with
  `doit -n 2` (which builds a Jinja2 Environment for every render);
* `-n 2` at least 1.7x faster than `-n 1`.
The generated trees are checked to be byte-identical to the reference's.
"""
from __future__ import annotations

import hashlib

import pytest
from benchmarks.workload import WorkloadSpec

from bench_support import check_target, doit

ROUNDS = 3
REFERENCE_TARGET = 5.0
SCALING_TARGET = 1.7

RUNS = {
    # name: (project, doit arguments)
    "reference -n 2": ("reference", ("-n", "2")),
    "conductor -n 1": ("conductor", ("-n", "1", "codegen")),
    "conductor -n 2": ("conductor", ("-n", "2", "codegen")),
}


def tree(root) -> dict[str, str]:
    base = root / "output"
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("run", list(RUNS))
def test_cold_codegen(benchmark, run, workloads, patterns, comparisons, enforce_targets):
    project, args = RUNS[run]
    spec = WorkloadSpec(patterns)
    fresh = workloads.fresh_reference if project == "reference" else workloads.fresh
    roots = []

    def setup():
        if roots:
            workloads.discard(roots[-1])
        roots.append(fresh(spec))
        return (roots[-1], *args), {}

    benchmark.group = f"cold codegen, {patterns} patterns"
    benchmark.extra_info["patterns"] = patterns
    benchmark.pedantic(doit, setup=setup, rounds=ROUNDS, iterations=1)
    best = comparisons.record(f"cold:{run}", benchmark)
    comparisons.trees = getattr(comparisons, "trees", {})
    comparisons.trees[run] = tree(roots[-1])
    workloads.discard(roots[-1])
    if run != "conductor -n 2":
        return
    if "reference -n 2" in comparisons.trees:
        assert comparisons.trees[run] == comparisons.trees["reference -n 2"], \
            "generated files differ from the reference's"
    reference, serial = comparisons.best("cold:reference -n 2"), comparisons.best("cold:conductor -n 1")
    if reference is None or serial is None:
        pytest.skip("the runs to compare with were not measured in this run")
    check_target(benchmark, enforce_targets, "speedup_over_reference", reference / best,
                 reference / best >= REFERENCE_TARGET, f">= {REFERENCE_TARGET}")
    check_target(benchmark, enforce_targets, "speedup_n2_over_n1", serial / best,
                 serial / best >= SCALING_TARGET, f">= {SCALING_TARGET}")
