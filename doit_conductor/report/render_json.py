"""The report as JSON: a documented, versioned schema (docs/profile-report.md).

`REPORT_SCHEMA_VERSION` changes whenever a key is renamed, removed or changes
meaning; new keys may be added within a version.  Times are seconds, sizes
bytes, shares fractions 0..1, percent changes percent; unknown figures are null.
"""
from __future__ import annotations

import json

from doit_conductor.report.analysis import Report, RunAnalysis
from doit_conductor.report.compare import Comparison, TaskDelta
from doit_conductor.report.history import History
from doit_conductor.report.render_phases import phase_comparison_json, phases_json

REPORT_SCHEMA = "doit-conductor/profile-report"
REPORT_SCHEMA_VERSION = 1


def report_to_json(report: Report) -> dict:
    """The report as a JSON-ready dict."""
    comparison = report.comparison
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": run_to_json(report.run) if report.run else None,
        "comparison": comparison_to_json(comparison) if comparison else None,
        "regressions": [delta_to_json(t) for t in comparison.regressions] if comparison else [],
        "history": history_to_json(report.history) if report.history else None,
        "codegen_phases": phases_json(report.phases),
        "codegen_phases_comparison": phase_comparison_json(report.phases_compared),
        "notice": report.notice,
    }


def render_json(report: Report) -> str:
    # Compact: indenting makes json use its pure-Python encoder, three times
    # slower on a 10,000-task run.  `python -m json.tool` or jq pretty-print it.
    return json.dumps(report_to_json(report), separators=(",", ":"), ensure_ascii=False) + "\n"


def run_to_json(run: RunAnalysis) -> dict:
    path = run.critical_path
    return {
        "run_id": run.run_id,
        "command": list(run.command),
        "workers": run.workers,
        "parallel_type": run.parallel_type,
        "start": run.start,
        "completed": run.completed,
        "wall_s": run.wall_s,
        "task_time_s": run.task_time_s,
        "parallelism": run.parallelism,
        "counts": dict(run.counts),
        "warnings": list(run.warnings),
        "critical_path": {"tasks": list(path.tasks), "durations_s": list(path.durations_s),
                          "duration_s": path.duration_s},
        "what_if": [{"workers": w.workers, "predicted_wall_s": w.predicted_wall_s,
                     "actual_wall_s": w.actual_wall_s} for w in run.what_if],
        "task_overhead_s": run.task_overhead_s,
        "worker_use": [{"host": u.host, "pid": u.pid, "tasks": u.tasks, "busy_s": u.busy_s}
                       for u in run.worker_use],
        "top_wall": [{"name": r.name, "wall_s": r.value, "share": r.share} for r in run.top_wall],
        "top_memory": [{"name": r.name, "peak_rss_bytes": int(r.value), "share": r.share}
                       for r in run.top_memory],
        "concurrency_groups": [{"level": g.level, "tasks": list(g.tasks), "summed_s": g.summed_s,
                                "longest_s": g.longest_s} for g in run.groups],
        "counters": {"totals": dict(run.counters.totals),
                     "cache_hit_rate": run.counters.cache_hit_rate},
        "tasks": [{
            "name": t.name, "status": t.status, "wall_s": t.wall_s, "cpu_s": t.cpu_s,
            "peak_rss_bytes": t.peak_rss_bytes, "io_read_bytes": t.io_read_bytes,
            "io_write_bytes": t.io_write_bytes, "worker": t.worker,
            "start_offset_s": t.start_offset_s, "end_offset_s": t.end_offset_s,
            "earliest_start_s": t.earliest_start_s, "slack_s": t.slack_s,
            "critical": t.critical, "error": t.error,
        } for t in run.tasks],
    }


def delta_to_json(t: TaskDelta) -> dict:
    return {
        "name": t.name, "old_status": t.old_status, "new_status": t.new_status,
        "old_wall_s": t.old_wall_s, "new_wall_s": t.new_wall_s, "delta_s": t.delta_s,
        "delta_pct": t.delta_pct, "old_peak_rss_bytes": t.old_peak_rss_bytes,
        "new_peak_rss_bytes": t.new_peak_rss_bytes, "rss_delta_pct": t.rss_delta_pct,
        "time_regressed": t.time_regressed, "memory_regressed": t.memory_regressed,
    }


def comparison_to_json(c: Comparison) -> dict:
    return {
        "old_run": c.old_run, "new_run": c.new_run,
        "old_wall_s": c.old_wall_s, "new_wall_s": c.new_wall_s,
        "threshold_pct": c.threshold_pct, "noise_floor_s": c.noise_floor_s,
        "noise_floor_rss_bytes": c.noise_floor_rss_bytes,
        "tasks": [delta_to_json(t) for t in c.tasks],
        "counters": [{"name": k.name, "old": k.old, "new": k.new} for k in c.counters],
    }


def history_to_json(h: History) -> dict:
    return {
        "run_ids": list(h.run_ids),
        "run_wall_s": list(h.run_wall_s),
        "run_states": list(h.run_states),
        "cache_hit_rates": list(h.cache_hit_rates),
        "requested": h.requested,
        "shortfall": h.shortfall,
        "tasks": [{"name": t.name, "wall_s": list(t.wall_s)} for t in h.tasks],
    }
