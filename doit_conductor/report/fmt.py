"""How figures are written in the text and HTML reports (one place, so they agree)."""
from __future__ import annotations

import datetime as dt

from doit_conductor.report.dag import EXECUTED


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) < 10:
        return f"{value:.3f}"
    if abs(value) < 1000:
        return f"{value:.2f}"
    return f"{value:.0f}"


def wall_or_status(status: str | None, wall: float | None) -> str:
    """A compared task's time in one run: seconds if it executed, else why not."""
    if status is None:
        return "absent"
    return seconds(wall) if status in EXECUTED else status


def signed_seconds(value: float | None) -> str:
    return "-" if value is None else ("+" if value >= 0 else "-") + seconds(abs(value))


def size(value: float | None) -> str:
    """Bytes in binary units: 512 B, 1.5 KiB, 12.0 MiB."""
    return _binary(value, ("B", "KiB", "MiB", "GiB"), " ")


def compact_size(value: float | None) -> str:
    """Bytes in at most six characters, for narrow tables: 512B, 1.5K, 12.0M, 1.2G."""
    return _binary(value, ("B", "K", "M", "G"), "")


def _binary(value: float | None, units: tuple[str, ...], gap: str) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in units:
        if abs(amount) < 1024 or unit == units[-1]:
            return f"{amount:.0f}{gap}{unit}" if unit == units[0] else f"{amount:.1f}{gap}{unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def workers(count: int, parallel_type: str) -> str:
    """How a run was parallelised: doit records 0 workers for a serial run."""
    return "serial" if count <= 0 else f"{count} worker(s), {parallel_type}"


def percent(fraction: float | None) -> str:
    """A 0..1 fraction as a percentage."""
    return "-" if fraction is None else f"{fraction * 100:.1f}%"


def signed_percent(value: float | None) -> str:
    """A percent change (already in percent) with its sign."""
    return "-" if value is None else f"{value:+.1f}%"


def count(value: float) -> str:
    """A counter: whole numbers as they are, others to three decimals (never `0.0200153`)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    return f"{int(value)}"


def timestamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def shorten(text: str, width: int) -> str:
    """`text` cut to `width` characters, the middle replaced by '~' when cut."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "~" + text[len(text) - (width - 1 - head):]
