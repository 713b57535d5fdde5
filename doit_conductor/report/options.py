"""What `doit profile-report` was asked for, as plain data (`Options`), and its exit codes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USER_ERROR = 3
FORMATS = ("text", "json", "html", "trace")
BASELINE_PREFIX = "baseline:"
AUTO_BASELINE = "@start-time"  # --save-baseline given without a name (never a valid name)


@dataclass(frozen=True, slots=True)
class Options:
    project_dir: Path
    run: str
    new: str | None
    old: str | None
    history: int
    workers: tuple[int, ...]
    format: str
    output: str
    threshold_pct: float
    gate: bool
    noise_floor_s: float
    save_baseline: str
    top: int
    rows: int
    task_overhead_s: float = 0.0
