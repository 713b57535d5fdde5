"""benchmarks/impact.py at a tiny scale: the table it writes, and its arithmetic."""
from __future__ import annotations

import pytest

import subprocess
import sys

from benchmarks.impact import CONFIGURATIONS, FIRST, SUBSEQUENT, Cell, review_table
from tests.support.projects import REPO

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow


def test_script_writes_the_measured_table_at_tiny_scale(tmp_path):
    output = tmp_path / "optimisations.md"
    result = subprocess.run(
        [sys.executable, "benchmarks/impact.py", "--patterns", "3", "--seed-delay-ms", "10",
         "--workers", "2", "--repeat", "1", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    text = output.read_text()
    assert ("python benchmarks/impact.py --patterns 3 --seed-delay-ms 10 --workers 2 --repeat 1"
            in text)
    assert "The machine was shared" in text
    for config in CONFIGURATIONS:
        rows = [line for line in text.splitlines() if line.startswith(f"| {config.name} | ")
                and line.split("|")[2].strip().endswith(" s")]
        assert len(rows) == 2, config.name  # one per workload
        assert all(row.endswith("| identical |") for row in rows)
    # the cache is consulted only where it is on: cold misses, then hits in the new process
    cached = [line for line in text.splitlines() if line.startswith("| template cache |")]
    assert all("%" in row.split("|")[8] for row in cached)
    assert text.count("| **All three together (measured)** |") == 2


def _cell(first: float, later: float) -> Cell:
    cell = Cell()
    cell.task8_s[FIRST].append(first)
    cell.task8_s[SUBSEQUENT].append(later)
    cell.command_s[FIRST].append(first + 1)
    cell.command_s[SUBSEQUENT].append(later + 1)
    return cell


def test_review_table_savings_against_none():
    cells = {"none": _cell(10.0, 9.0), "template cache": _cell(9.5, 8.0),
             "parallel generation": _cell(5.0, 4.5), "incremental compilation": _cell(10.0, 2.0),
             "all three": _cell(4.5, 1.0)}
    table = review_table(cells)
    assert "| Template cache (alone) | -0.50s | -1.00s | -0.75s |" in table
    assert "| Incremental compilation (alone) | +0.00s | -7.00s | -3.50s |" in table
    assert "| Sum of the three alone | -5.50s | -12.50s | -9.00s |" in table
    assert "| **All three together (measured)** | **-5.50s** | **-8.00s** | **-6.75s** |" in table
