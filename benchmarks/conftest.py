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
