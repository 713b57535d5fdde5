"""How the no-op, an edit and the cold build grow to 10,000 patterns (issue 16).

Behind `--bench-10k` (a 10,000-pattern whole workflow takes minutes to build):
* no-op `doit` (whole workflow) at 10,000 patterns at most 2x the no-op at 100;
* one pattern edited, `doit codegen`, at 10,000 patterns: at most twice the
  same edit at 1,000 (issue 24: the work of an edit grows with what changed,
  not with the library);
* cold `doit -n 2 codegen` at 10,000 patterns at most 11x the cold run at 1,000.
Each workload is built once (whole workflow, `doit -n 2`: one cold run each);
the no-op and edit loops are then timed in rounds that run every size one
right after the other.  The targets compare the best rounds; the median of
the round-by-round ratios is recorded.
"""
from __future__ import annotations

import time

import pytest
import yaml
from benchmarks.workload import WorkloadSpec

from bench_support import check_targets, doit, executed, paired_ratios
from test_edit_bench import batch_of, edited_document, leaf_entity

NOOP_ROUNDS = 5
EDIT_ROUNDS = 5
SIZES = (100, 1_000, 10_000)


def timed(root, *args: str) -> tuple[float, object]:
    start = time.perf_counter()
    result = doit(root, *args, timeout=3600)
    return time.perf_counter() - start, result


def alternating(sizes, round_: int) -> list:
    """Smallest first in even rounds, largest first in odd ones: no size always
    runs right after another's run."""
    return list(sizes) if round_ % 2 == 0 else list(reversed(sizes))


@pytest.fixture(scope="module")
def scale_runs(request, workloads):
    """Each size built once (the cold figures, one run each); then the no-op and
    the edit loops timed round by round, every size in each round right after
    the other, so that a ratio's two sides share the minute's load."""
    if not request.config.getoption("--bench-10k"):
        pytest.skip("10,000-pattern benchmarks: run with --bench-10k")
    figures: dict[str, float] = {}
    roots = {}
    for size in SIZES:
        root = roots[size] = workloads.fresh(WorkloadSpec(size))
        figures[f"cold codegen {size}"], _ = timed(root, "-n", "2", "codegen")
        figures[f"cold rest {size}"], _ = timed(root, "-n", "2")
        figures[f"first no-op {size}"], _ = timed(root)   # walks, leaves a snapshot
    noops: dict[int, list[float]] = {size: [] for size in SIZES}
    for round_ in range(NOOP_ROUNDS):
        for size in alternating(SIZES, round_):
            seconds, result = timed(roots[size])
            assert executed(result) == []
            noops[size].append(seconds)
    loops = {size: EditLoop(roots[size]) for size in SIZES if size >= 1_000}
    for round_ in range(1, EDIT_ROUNDS + 1):
        for size in alternating(loops, round_):
            loops[size].edit(round_)
    for size in SIZES:
        figures[f"no-op {size}"] = min(noops[size])
    for size, loop in loops.items():
        figures[f"edit {size}"] = min(loop.edits)
        figures[f"edit no-op {size}"] = min(loop.noops)
    paired = {"noop_10000_over_100": (noops[10_000], noops[100]),
              "edit_10000_over_1000": (loops[10_000].edits, loops[1_000].edits)}
    for name, (large, small) in paired.items():
        figures[f"{name} paired median"] = paired_ratios(large, small)[1]
    for root in roots.values():
        workloads.discard(root)
    return figures


class EditLoop:
    """One leaf entity of a built workload edited again and again: `doit
    codegen` after each edit (timed), then the no-op right after it."""

    def __init__(self, root) -> None:
        self.root = root
        self.entry = leaf_entity(root)
        self.source = root / self.entry["source"]
        self.document = yaml.safe_load(self.source.read_text())
        self.edits: list[float] = []
        self.noops: list[float] = []
        doit(root, "codegen")

    def edit(self, round_: int) -> None:
        self.source.write_text(yaml.safe_dump(edited_document(self.document, round_),
                                              sort_keys=False))
        seconds, result = timed(self.root, "codegen")
        assert batch_of(self.root, self.entry["name"]) in executed(result)
        self.edits.append(seconds)
        self.noops.append(timed(self.root, "codegen")[0])


def test_scale(benchmark, scale_runs):
    benchmark.group = "scale: 100, 1,000, 10,000 patterns, whole workflow"
    benchmark.extra_info.update({name: round(s, 4) for name, s in scale_runs.items()})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)   # figures above, measured once
    for name, value in scale_runs.items():   # the figures docs/performance.md quotes
        unit = "x" if name.endswith("paired median") else "s"
        print(f"{name:40} {value:8.3f} {unit}")
    noop = scale_runs["no-op 10000"] / scale_runs["no-op 100"]
    edit = scale_runs["edit 10000"] / scale_runs["edit 1000"]
    cold = scale_runs["cold codegen 10000"] / scale_runs["cold codegen 1000"]
    check_targets(benchmark, True,
                  ("noop_10000_over_100", noop, noop <= 2.0, "<= 2"),
                  ("edit_10000_over_1000", edit, edit <= 2.0, "<= 2"),
                  ("cold_10000_over_1000", cold, cold <= 11.0, "<= 11"))
