"""Regression detection with and without the noise floor; history and counters."""
from __future__ import annotations

from tests.support.records import record

from doit_conductor.profiling.records import FAILED, UP_TO_DATE
from doit_conductor.report.compare import compare_runs
from doit_conductor.report.counter_summary import counter_summary
from doit_conductor.report.history import history

MIB = 1024 * 1024

OLD = [
    record("tiny", 0.02), record("grew", 1.0), record("steady", 1.0), record("cached", 1.0),
    record("rebuilt", 2.0, status=UP_TO_DATE), record("fat", 1.0, peak_rss_bytes=100 * MIB),
    record("slim", 1.0, peak_rss_bytes=10 * MIB), record("broke", 1.0), record("gone", 1.0),
]
NEW = [
    record("tiny", 0.04), record("grew", 1.15), record("steady", 1.05),
    record("cached", 1.0, status=UP_TO_DATE), record("rebuilt", 2.0),
    record("fat", 1.0, peak_rss_bytes=130 * MIB), record("slim", 1.0, peak_rss_bytes=15 * MIB),
    record("broke", 3.0, status=FAILED), record("added", 5.0),
]


def flagged(comparison):
    return {t.name: ("T" if t.time_regressed else "") + ("M" if t.memory_regressed else "")
            for t in comparison.regressions}


def test_regressions_above_the_noise_floor():
    comparison = compare_runs("old", OLD, 10.0, "new", NEW, 11.0, threshold_pct=10)
    # tiny: +100% but only +0.02 s; slim: +50% but only +5 MiB: both under the floor.
    assert flagged(comparison) == {"grew": "T", "fat": "M"}


def test_without_the_noise_floor_small_tasks_regress_too():
    comparison = compare_runs("old", OLD, 10.0, "new", NEW, 11.0, threshold_pct=10,
                              noise_floor_s=0.0, noise_floor_rss_bytes=0)
    assert flagged(comparison) == {"tiny": "T", "grew": "T", "fat": "M", "slim": "M"}


def test_threshold_decides_what_counts():
    comparison = compare_runs("old", OLD, 10.0, "new", NEW, 11.0, threshold_pct=20)
    assert flagged(comparison) == {"fat": "M"}
    comparison = compare_runs("old", OLD, 10.0, "new", NEW, 11.0, threshold_pct=40)
    assert flagged(comparison) == {}


def test_deltas_show_what_a_warm_run_saved_and_tasks_on_one_side():
    deltas = {t.name: t for t in compare_runs("old", OLD, 10.0, "new", NEW, 11.0).tasks}
    assert deltas["cached"].old_wall_s == 1.0 and deltas["cached"].new_wall_s == 0.0
    assert deltas["cached"].delta_s == -1.0 and deltas["cached"].delta_pct == -100.0
    assert deltas["added"].old_status is None and deltas["added"].delta_s is None
    assert deltas["gone"].new_status is None
    assert deltas["grew"].delta_pct is not None and round(deltas["grew"].delta_pct, 6) == 15.0


def test_counters_compare_first_and_warm_run():
    cold = [record("render", 2.0, counters={"template_cache_misses": 10, "files_rendered": 30}),
            record("compile", 1.0, counters={"files_compiled": 30})]
    warm = [record("render", 0.5, counters={"template_cache_hits": 10, "files_rendered": 30}),
            record("compile", 0.1, counters={"files_compiled": 2, "files_skipped": 28})]
    counters = compare_runs("cold", cold, 3.0, "warm", warm, 0.6).counters
    assert [(k.name, k.old, k.new) for k in counters] == [
        ("template_cache_hits", 0, 10), ("template_cache_misses", 10, 0),
        ("files_rendered", 30, 30), ("files_compiled", 30, 2), ("files_skipped", 0, 28)]


def test_counter_summary_and_hit_rate():
    summary = counter_summary([
        record("a", counters={"template_cache_hits": 3, "template_cache_misses": 1}),
        record("b", counters={"template_cache_hits": 4, "custom": 2.5}),
    ])
    assert summary.totals == {"template_cache_hits": 7, "template_cache_misses": 1, "custom": 2.5}
    assert summary.cache_hit_rate == 7 / 8
    assert counter_summary([record("a")]).cache_hit_rate is None


def test_history_lists_each_task_per_run_and_the_hit_rate():
    runs = [
        ("r1", 3.0, [record("a", 1.0, counters={"template_cache_misses": 4}), record("b", 2.0)]),
        ("r2", 1.0, [record("a", 1.0, counters={"template_cache_hits": 4}),
                     record("b", 2.0, status=UP_TO_DATE)]),
        ("r3", 2.5, [record("a", 1.5, counters={"template_cache_hits": 3,
                                                "template_cache_misses": 1}), record("c", 1.0)]),
    ]
    result = history(runs)
    assert result.run_ids == ("r1", "r2", "r3")
    assert result.cache_hit_rates == (0.0, 1.0, 0.75)
    assert [(t.name, t.wall_s) for t in result.tasks] == [
        ("a", (1.0, 1.0, 1.5)), ("b", (2.0, None, None)), ("c", (None, None, 1.0))]
