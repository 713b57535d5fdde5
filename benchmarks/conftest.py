"""Fixtures of the benchmarks: generated workloads, the plain-doit reference, and
side-by-side comparisons measured in the same pytest run.

Scale: `--bench-scale smoke` (30 patterns: does the suite itself work? no
target is asserted, see `bench_support.check_target`);
`--bench-scale quick` (the default, 200 patterns, a few minutes) runs every
benchmark and records every ratio; `--bench-scale full` (1,000 patterns, the
scale the targets are set at) also asserts them, the two that are in seconds
included (the no-op's 0.15 s and the edit's no-op + 0.05 s, as issue 16 sets
them): on a noisy machine those fail first.
"""
from __future__ import annotations

import pytest

import bench_support
from bench_support import Comparisons, Workloads

SCALES = {"smoke": 30, "quick": 200, "full": 1000}


def pytest_addoption(parser):
    parser.addoption("--bench-scale", choices=sorted(SCALES), default="quick",
                     help="smoke: 30 patterns, to try the suite itself; quick: 200 "
                          "patterns, targets recorded only; full: 1,000 patterns, targets "
                          "asserted")
    parser.addoption("--bench-10k", action="store_true", default=False,
                     help="also build 100, 1,000 and 10,000-pattern workloads and assert "
                          "the scaling targets (test_growth_bench.py; ~15 minutes)")


def pytest_configure(config):
    bench_support.set_scale(config.getoption("--bench-scale"))


@pytest.fixture(scope="session")
def scale(request) -> str:
    return request.config.getoption("--bench-scale")


@pytest.fixture(scope="session")
def patterns(scale: str) -> int:
    return SCALES[scale]


@pytest.fixture(scope="session")
def enforce_targets(scale: str) -> bool:
    return scale == "full"


@pytest.fixture(scope="session")
def workloads(tmp_path_factory) -> Workloads:
    """`python -m benchmarks.workload` as a fixture: generated once per spec, copied per use."""
    return Workloads(tmp_path_factory.mktemp("workloads"))


@pytest.fixture(scope="session")
def comparisons() -> Comparisons:
    return Comparisons()


@pytest.fixture(scope="session")
def leftovers(workloads):
    """Trees the timed builds left, removed after the session, not between rounds
    (nor between modules: the next module's rounds would follow the removal).
    This machine's root file system is ext4 without a journal, where the kernel
    will not reuse an inode for a while after it was freed (`recently_deleted`
    in fs/ext4/ialloc.c) and checks every such inode it passes over: creating
    a file in the minute after a tree of 5,000 files was removed cost up to
    0.8 ms in the kernel (perf: a cold 1,000-pattern build's system time
    0.6 s -> 3.3-4.2 s).  A round that runs right after the clean-up of the
    round before would time the clean-up, and the build that creates more
    files in the groups just emptied would pay most."""
    trees: list = []
    yield trees
    for tree in trees:
        workloads.discard(tree)
