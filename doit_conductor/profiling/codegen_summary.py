"""The closing summary of a run that did codegen work, from its task records.

Pure: records in, a `CodegenSummary` and its console lines out.  The reporter
prints the lines at the end of a run (not at `-v 0`) and stores the summary in
the run's `summary.json` (`RunSummary.codegen`), so what the console said and
what the record holds are the same numbers by construction.

A codegen sub-task is a record named `codegen:<pattern>`; `codegen:_manifest`
(prune removed patterns, merge the manifest, evict cache entries) is the
closing step, counted for time, pruning and evictions but not as a pattern.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from doit_conductor.profiling.records import CACHED, FAILED, RAN, UP_TO_DATE, TaskRecord

CODEGEN_PREFIX = "codegen:"
CLOSING_STEP = "codegen:_manifest"


@dataclass(frozen=True, slots=True)
class CodegenSummary:
    """What Task 8 did in one run."""

    patterns: int             # codegen sub-tasks in the run (one per pattern)
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


def codegen_summary(records: Sequence[TaskRecord], workers: int) -> CodegenSummary | None:
    """The summary of Task 8 in a run; None when no codegen sub-task is in it."""
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

    return CodegenSummary(
        patterns=len(patterns),
        regenerated=sum(r.status == RAN for r in patterns),
        up_to_date=sum(r.status == UP_TO_DATE for r in patterns),
        failed=sum(r.status == FAILED for r in patterns),
        restored=sum(r.status == CACHED for r in patterns),
        not_run=sum(r.status not in (RAN, UP_TO_DATE, FAILED, CACHED) for r in patterns),
        seconds=max(ends) - min(starts) if starts and ends else 0.0,
        cache_hits=total("template_cache_hits"),
        cache_misses=total("template_cache_misses"),
        cache_evicted=total("template_cache_evicted"),
        files_compiled=total("files_compiled"),
        files_skipped=total("files_skipped"),
        files_pruned=total("files_pruned"),
        workers=max(workers, 1),
    )


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
