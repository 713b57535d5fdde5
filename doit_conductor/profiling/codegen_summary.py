"""The closing summary of a run that did codegen work, from its task records.

Pure: records in, a `CodegenSummary` and its console lines out.  The reporter
prints the lines at the end of a run (not at `-v 0`) and stores the summary in
the run's `summary.json` (`RunSummary.codegen`), so what the console said and
what the record holds are the same numbers by construction.

A codegen sub-task builds a batch of patterns (`codegen:_batch-<level>-<bucket>`)
or, selected on its own, one pattern (`codegen:<pattern>`); each counts the
patterns it built (`patterns_built`), skipped as unchanged (`patterns_skipped`)
or restored from the action cache (`patterns_restored`), and the closing step
`codegen:_manifest` (merge the manifest, prune, evict cache entries) counts the
patterns planned (`patterns_planned`); it is counted for time, pruning and
evictions but not as a pattern.  Runs recorded before batches (one sub-task
per pattern, none of those counters) are summed a sub-task per pattern.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from doit_conductor.profiling.records import CACHED, FAILED, NOT_RUN, RAN, UP_TO_DATE, TaskRecord

CODEGEN_PREFIX = "codegen:"
CLOSING_STEP = "codegen:_manifest"
BATCH_PREFIX = "codegen:_batch-"
# In a codegen sub-task's meta: how many patterns it builds (the reporter hands
# them to `codegen_summary` as `planned`, by sub-task).
PATTERNS_META = "conductor_patterns"
_PATTERN_COUNTERS = ("patterns_built", "patterns_skipped", "patterns_restored", "patterns_planned")


@dataclass(frozen=True, slots=True)
class CodegenSummary:
    """What Task 8 did in one run."""

    patterns: int             # patterns planned (before batches: sub-tasks in the run)
    regenerated: int          # ... that ran
    up_to_date: int           # ... that doit skipped
    failed: int               # ... that failed
    restored: int             # ... restored from the action cache (doit_conductor.scale)
    not_run: int              # ... that did not run (a failure stopped the run; ignored)
    seconds: float            # first codegen start to last codegen end
    cache_hits: int
    cache_misses: int
    cache_evicted: int
    files_compiled: int
    files_skipped: int        # unchanged, not compiled again
    files_pruned: int
    workers: int              # doit's -n (1: serial)

    @property
    def did_work(self) -> bool:
        """Whether any codegen sub-task (or the closing step) executed."""
        return (self.regenerated > 0 or self.failed > 0 or self.restored > 0
                or self.seconds > 0)

    @property
    def cache_hit_rate(self) -> float | None:
        consulted = self.cache_hits + self.cache_misses
        return self.cache_hits / consulted if consulted else None


def codegen_summary(records: Sequence[TaskRecord], workers: int,
                    planned: Mapping[str, int] | None = None) -> CodegenSummary | None:
    """The summary of Task 8 in a run; None when no codegen sub-task is in it.
    `planned`: how many patterns each sub-task holds (`PATTERNS_META`), for the
    patterns of sub-tasks that did not run (a failure stopped the run) and the
    total of a run whose closing step did not run to count them (a batch that
    ran and left its record as it was)."""
    patterns = [r for r in records
                if r.name.startswith(CODEGEN_PREFIX) and r.name != CLOSING_STEP]
    closing = [r for r in records if r.name == CLOSING_STEP]
    if not patterns and not closing:
        return None
    executed = [r for r in (*patterns, *closing) if r.status in (RAN, FAILED, CACHED)]
    starts = [r.start for r in executed if r.start is not None]
    ends = [r.end for r in executed if r.end is not None]

    def total(name: str) -> int:
        return int(sum(r.counters.get(name, 0) for r in executed))

    if any(r.name.startswith(BATCH_PREFIX) for r in patterns) or any(
            name in r.counters for r in (*patterns, *closing) for name in _PATTERN_COUNTERS):
        counts = _pattern_counts(patterns, closing, executed, planned or {})
    else:
        counts = dict(
            patterns=len(patterns),
            regenerated=sum(r.status == RAN for r in patterns),
            up_to_date=sum(r.status == UP_TO_DATE for r in patterns),
            failed=sum(r.status == FAILED for r in patterns),
            restored=sum(r.status == CACHED for r in patterns),
            not_run=sum(r.status not in (RAN, UP_TO_DATE, FAILED, CACHED) for r in patterns))
    return CodegenSummary(
        **counts,
        seconds=max(ends) - min(starts) if starts and ends else 0.0,
        cache_hits=total("template_cache_hits"),
        cache_misses=total("template_cache_misses"),
        cache_evicted=total("template_cache_evicted"),
        files_compiled=total("files_compiled"),
        files_skipped=total("files_skipped"),
        files_pruned=total("files_pruned"),
        workers=max(workers, 1),
    )


def _pattern_counts(subtasks: Sequence[TaskRecord], closing: Sequence[TaskRecord],
                    executed: Sequence[TaskRecord], held: Mapping[str, int]
                    ) -> dict[str, int]:
    """Pattern figures of a run with batches, from the sub-tasks' counters.  A
    failed sub-task counts as one failed pattern (it stops at its first); a
    sub-task that did not run counts the patterns it holds (`held`) as not
    run.  The total is the closing step's count, else what the sub-tasks hold."""
    def total(records, name: str) -> int:
        return int(sum(r.counters.get(name, 0) for r in records))

    built = total([r for r in subtasks if r.status in (RAN, FAILED)], "patterns_built")
    restored = total([r for r in subtasks if r.status == CACHED], "patterns_restored")
    failed = sum(r.status == FAILED for r in subtasks)
    planned = total(closing, "patterns_planned") if any(
        "patterns_planned" in r.counters for r in closing) else None
    seen = built + restored + failed + total(executed, "patterns_skipped")
    in_subtasks = sum(held.get(r.name, 0) for r in subtasks)
    patterns = planned if planned is not None else max(in_subtasks, seen)
    not_run = sum(held.get(r.name, 0) for r in subtasks if r.status == NOT_RUN)
    return dict(patterns=patterns, regenerated=built, failed=failed, restored=restored,
                up_to_date=max(patterns - built - restored - failed - not_run, 0), not_run=not_run)


def to_json(summary: CodegenSummary) -> dict:
    data = asdict(summary)
    data["cache_hit_rate"] = summary.cache_hit_rate
    return data


def summary_lines(summary: CodegenSummary) -> list[str]:
    """The closing lines, labels aligned: what a user reads after `doit codegen`."""
    rate = summary.cache_hit_rate
    rows = [
        ("codegen", f"{summary.regenerated:,} of {summary.patterns:,} "
                    f"{_plural(summary.patterns, 'pattern')} regenerated "
                    f"({summary.up_to_date:,} up to date"
                    + (f", {summary.restored:,} restored from the action cache"
                       if summary.restored else "")
                    + (f", {summary.failed:,} failed" if summary.failed else "")
                    + (f", {summary.not_run:,} not run" if summary.not_run else "")
                    + f") in {summary.seconds:.2f} s"),
        ("template cache", f"{summary.cache_hits:,} {_plural(summary.cache_hits, 'hit')}, "
                           f"{summary.cache_misses:,} {_plural(summary.cache_misses, 'miss')}"
                           + (f" ({rate * 100:.0f} %)" if rate is not None else "")
                           + f", {summary.cache_evicted:,} "
                           f"{_plural(summary.cache_evicted, 'entry', 'entries')} evicted"),
        ("compile", f"{summary.files_compiled:,} changed "
                    f"{_plural(summary.files_compiled, 'file')} compiled, "
                    f"{summary.files_skipped:,} unchanged skipped"),
        ("pruned", f"{summary.files_pruned:,} {_plural(summary.files_pruned, 'file')}"),
        ("workers", f"{summary.workers}"),
    ]
    width = max(len(label) for label, _ in rows) + 1
    return [f"{label + ':':<{width}} {text}" for label, text in rows]


def _plural(count: int, one: str, many: str | None = None) -> str:
    if count == 1:
        return one
    return many or (one + "es" if one.endswith("s") else one + "s")
