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


def test_every_target_of_a_benchmark_is_recorded_before_the_missed_ones_fail(scale):
    scale("full")
    benchmark = _benchmark()
    with pytest.raises(AssertionError) as failed:
        bench_support.check_targets(benchmark, True, ("speedup", 1.2, False, ">= 1.8"),
                                    ("over_floor", 1.1, True, "<= 1.25"),
                                    ("edit", 0.8, False, "<= 0.5"))
    assert str(failed.value).startswith("speedup = 1.200, target >= 1.8; "
                                        "edit = 0.800, target <= 0.5")
    assert benchmark.extra_info["over_floor_met"] is True
    assert benchmark.extra_info["edit"] == 0.8
    bench_support.check_targets(_benchmark(), True, ("over_floor", 1.1, True, "<= 1.25"))


def test_partners_run_next_to_each_round_alternately_before_and_after():
    """What pytest-benchmark's pedantic does with a setup: setup, round, setup,
    round...; the partners land right before even rounds and right after odd
    ones (mirrored), one time per round each."""
    timeline: list[str] = []
    clock = iter(range(100))

    def partner(name):
        def run() -> float:
            timeline.append(name)
            return float(next(clock))
        return run

    partners = bench_support.Partners({"careful": partner("careful"), "floor": partner("floor")})
    for round_ in range(4):
        partners.before_round()
        timeline.append(f"ours{round_}")
    partners.finish()
    assert timeline == ["careful", "floor", "ours0",
                        "ours1", "floor", "careful",
                        "careful", "floor", "ours2",
                        "ours3", "floor", "careful"]
    assert len(partners.seconds["careful"]) == len(partners.seconds["floor"]) == 4
    # each round's own partner time, in round order
    assert partners.seconds["careful"] == [0.0, 3.0, 4.0, 7.0]


def test_paired_ratios_are_of_the_best_rounds_and_the_median_pair():
    best, median = bench_support.paired_ratios([2.0, 3.0, 6.0], [4.0, 3.0, 4.0])
    assert best == pytest.approx(2.0 / 3.0)
    assert median == pytest.approx(1.0)   # pairs 0.5, 1.0, 1.5
