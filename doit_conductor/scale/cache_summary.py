"""The closing line about the action cache, from the run's task counters (pure)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

_NAMES = ("action_cache_hits", "action_cache_misses", "action_cache_bytes_read",
          "action_cache_bytes_written")


def cache_totals(task_counters: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Hits, misses and bytes moved, summed over the run's tasks."""
    totals = dict.fromkeys(_NAMES, 0.0)
    for counters in task_counters:
        for name in _NAMES:
            totals[name] += counters.get(name, 0)
    return totals


def summary_line(totals: Mapping[str, float]) -> str | None:
    """`action cache: 3 hits, 1 miss, 12.0 KiB read, 4.0 KiB written`, or None
    when no task consulted the cache."""
    hits, misses = int(totals["action_cache_hits"]), int(totals["action_cache_misses"])
    if not hits and not misses:
        return None
    return (f"action cache: {hits} hit{'s' * (hits != 1)}, "
            f"{misses} miss{'es' * (misses != 1)}, "
            f"{_size(totals['action_cache_bytes_read'])} read, "
            f"{_size(totals['action_cache_bytes_written'])} written")


def _size(count: float) -> str:
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"
