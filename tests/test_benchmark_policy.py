"""`--bench-scale smoke` checks that the benchmark suite runs, never a target
(`benchmarks/bench_support.check_target`); full scale asserts what it is asked to."""
from __future__ import annotations

import types

import pytest

from benchmarks import bench_support


@pytest.fixture
def scale():
    yield bench_support.set_scale
    bench_support.set_scale("quick")


def _benchmark():
    return types.SimpleNamespace(extra_info={})


def test_smoke_records_a_missed_target_without_asserting_it(scale):
    scale("smoke")
    benchmark = _benchmark()
    bench_support.check_target(benchmark, True, "speedup", 1.2, False, ">= 2.5")
    assert benchmark.extra_info == {"speedup": 1.2, "speedup_target": ">= 2.5",
                                    "speedup_met": False}


@pytest.mark.parametrize("level", ["quick", "full"])
def test_other_scales_assert_the_targets_they_are_asked_to(scale, level):
    scale(level)
    with pytest.raises(AssertionError, match="speedup = 1.200, target >= 2.5"):
        bench_support.check_target(_benchmark(), True, "speedup", 1.2, False, ">= 2.5")
    bench_support.check_target(_benchmark(), False, "speedup", 1.2, False, ">= 2.5")
