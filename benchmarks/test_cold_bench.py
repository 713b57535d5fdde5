"""Cold code generation: nothing built, every pattern rendered, compiled, written.

Side by side in one run: both plain-doit references with `doit -n 2` (naive: a
Jinja2 Environment per render; careful: one per process, patterns parsed once
per process), ours with `-n 1` and `-n 2 codegen`, and two floors
(`benchmarks/floor.py`): parse every pattern once and write the same files, same
sizes, from one process; and the floor with checks: parse, render, check and
write the same bytes from 2 bare processes.  Targets (1,000 patterns, issue 24):
* `doit -n 2 codegen` at least 1.8x faster than the careful reference `-n 2`;
* at most 1.25x the floor with checks.
Both are measured interleaved: every round of `-n 2 codegen` has a careful
round and a floor-with-checks round of its own right next to it
(`bench_support.Partners`: before it in even rounds, after it in odd ones), and
its ratios are of those paired rounds.  The other runs are timed each in a
benchmark of its own, recorded, not asserted: the speed-up over the naive
reference, `-n 2` against `-n 1` (issue 6's 1.7x) and against the plain floor.
Every generated tree is checked to be byte-identical to the others, the
floor's with checks included.  Ratios are of the best rounds (the estimate
least hurt by a busy neighbour); the median of the paired ratios is recorded
next to them.
"""
from __future__ import annotations

import hashlib

import pytest
from benchmarks.floor import checked_floor_seconds, file_sizes, floor_seconds, planned_work
from benchmarks.workload import WorkloadSpec

from bench_support import Partners, check_targets, doit, paired_ratios, timed

ROUNDS = 3
PAIRED_ROUNDS = 4   # even: as many partners before as after
CAREFUL_TARGET = 1.8
CHECKED_FLOOR_TARGET = 1.25

RUNS = {
    # name: (project, doit arguments)
    "naive -n 2": ("naive", ("-n", "2")),
    "careful -n 2": ("careful", ("-n", "2")),
    "conductor -n 1": ("conductor", ("-n", "1", "codegen")),
    "conductor -n 2": ("conductor", ("-n", "2", "codegen")),
}


def scratch_rounds(workloads, prefix: str, arguments, leftovers: list):
    """A pedantic `setup` giving each round a new scratch directory (kept in
    `leftovers`, removed after the session: see there) and `arguments(directory)`."""
    rounds = 0

    def setup():
        nonlocal rounds
        rounds += 1
        leftovers.append(workloads.root / "copies" / f"{prefix}-{rounds}")
        return arguments(leftovers[-1]), {}
    return setup


def tree(root) -> dict[str, str]:
    base = root / "output"
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file()}


def paired_partners(workloads, spec: WorkloadSpec, comparisons, leftovers: list) -> Partners:
    """A careful `-n 2` build and the floor with checks, from nothing, for each
    round of ours; what they generate is kept for the byte comparisons, their
    trees (and the planned project the floor reads) in `leftovers`."""
    planned = workloads.fresh(spec)
    leftovers.append(planned)
    doit(planned, "plan-codegen")   # the floor reads the plan: input, not work
    plan = planned_work(planned)

    def careful() -> float:
        root = workloads.fresh_reference(spec, "careful")
        leftovers.append(root)
        seconds = timed(doit, root, "-n", "2")
        comparisons.trees["careful -n 2, paired"] = tree(root)
        return seconds

    def checked_floor() -> float:
        scratch = workloads.root / "copies" / f"checked-floor-{len(leftovers)}"
        leftovers.append(scratch)
        seconds = checked_floor_seconds(planned, plan, scratch, 2)
        comparisons.trees["checked floor"] = {
            str(p.relative_to(scratch)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(scratch.rglob("*")) if p.is_file()}
        return seconds

    return Partners({"careful -n 2": careful, "checked floor": checked_floor})


@pytest.mark.parametrize("run", list(RUNS))
def test_cold_codegen(benchmark, run, workloads, patterns, comparisons, enforce_targets,
                      leftovers):
    project, args = RUNS[run]
    spec = WorkloadSpec(patterns)
    paired = run == "conductor -n 2"
    partners = paired_partners(workloads, spec, comparisons, leftovers) if paired else None
    roots = []   # each also in `leftovers`: removed after the session, not between rounds

    def setup():
        if partners is not None:
            partners.before_round()
        roots.append(workloads.fresh(spec) if project == "conductor"
                     else workloads.fresh_reference(spec, project))
        leftovers.append(roots[-1])
        return (roots[-1], *args), {}

    benchmark.group = f"cold codegen, {patterns} patterns"
    benchmark.extra_info["patterns"] = patterns
    benchmark.pedantic(doit, setup=setup, rounds=PAIRED_ROUNDS if paired else ROUNDS,
                       iterations=1)
    best = comparisons.record(f"cold:{run}", benchmark)
    comparisons.trees[run] = tree(roots[-1])
    if paired:
        comparisons.sizes = file_sizes(roots[-1] / "output")
        comparisons.patterns_dir = workloads.pristine(spec) / "patterns"
    if partners is not None:
        partners.finish()
        floor_tree = comparisons.trees.pop("checked floor")
        ours = comparisons.trees[run]
        assert floor_tree and floor_tree == {p: h for p, h in ours.items() if p in floor_tree}, \
            "the floor with checks must write the bytes the build wrote"
    assert len({tuple(sorted(t.items())) for t in comparisons.trees.values()}) == 1, \
        f"generated files differ between {sorted(comparisons.trees)}"
    if not paired:
        return
    benchmark.extra_info["absolute_s"] = round(best, 4)
    for name in ("naive -n 2", "careful -n 2", "conductor -n 1"):
        other = comparisons.best(f"cold:{name}")
        if other is not None:
            benchmark.extra_info[f"speedup_over {name}"] = round(other / best, 3)
    ours = comparisons.seconds[f"cold:{run}"]
    careful = partners.seconds["careful -n 2"]
    floor = partners.seconds["checked floor"]
    benchmark.extra_info["paired careful -n 2 s"] = [round(s, 4) for s in careful]
    benchmark.extra_info["paired checked floor s"] = [round(s, 4) for s in floor]
    over_careful, over_careful_median = paired_ratios(ours, careful)
    over_floor, over_floor_median = paired_ratios(ours, floor)
    benchmark.extra_info["speedup_over_careful_median"] = round(1 / over_careful_median, 3)
    benchmark.extra_info["cold_over_checked_floor_median"] = round(over_floor_median, 3)
    check_targets(benchmark, enforce_targets,
                  ("speedup_over_careful", 1 / over_careful,
                   1 / over_careful >= CAREFUL_TARGET, f">= {CAREFUL_TARGET}"),
                  ("cold_over_checked_floor", over_floor,
                   over_floor <= CHECKED_FLOOR_TARGET, f"<= {CHECKED_FLOOR_TARGET}"))


def test_cold_floor(benchmark, workloads, patterns, comparisons, enforce_targets, leftovers):
    """The floor, timed right after the cold runs, and cold `-n 2` as a multiple of it."""
    sizes = getattr(comparisons, "sizes", None)
    if sizes is None:
        pytest.skip("the cold `-n 2 codegen` run was not measured in this run")
    setup = scratch_rounds(workloads, "floor",
                           lambda directory: (comparisons.patterns_dir, sizes, directory),
                           leftovers)
    benchmark.group = f"cold codegen, {patterns} patterns"
    benchmark.extra_info.update(patterns=patterns, files=len(sizes), bytes=sum(sizes.values()))
    benchmark.pedantic(floor_seconds, setup=setup, rounds=ROUNDS * 2, iterations=1)
    floor = comparisons.record("cold:floor", benchmark)
    cold = comparisons.best("cold:conductor -n 2")
    for name in RUNS:
        other = comparisons.best(f"cold:{name}")
        if other is not None:
            benchmark.extra_info[f"{name} / floor"] = round(other / floor, 2)
    benchmark.extra_info["cold_over_floor"] = round(cold / floor, 3)
