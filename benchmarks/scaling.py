"""How cost grows with the library: 100 to 10,000 patterns, for docs/performance.md.

    python benchmarks/scaling.py [--sizes 100 1000 10000] [--reference-max 1000] [--rounds 5]

For each size, the whole workflow: cold `doit -n 2 codegen` (nothing built),
then `doit -n 2` for the rest of the workflow (phases 4-5), one no-op `doit`
without the fast no-op's snapshot (doit's walk over every task, which leaves a
snapshot) and the best of --rounds no-op runs after it (the fast no-op); the floor
(`benchmarks/floor.py`) for the files that codegen wrote; and both plain-doit
references (cold `doit -n 2`, no-op `doit`) up to --reference-max, since the
naive one's cold run grows to minutes.  One cold run per size.  Writes
docs/performance-scaling.json and the plot docs/performance-scaling.svg (drawn
here: no plotting dependency).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from bench_support import Workloads, doit  # noqa: E402
from benchmarks.floor import file_sizes, floor_seconds  # noqa: E402
from benchmarks.workload import WorkloadSpec  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
SERIES = {  # key: (label, colour, dashed)
    "conductor_cold": ("doit-conductor, cold -n 2 codegen", "#1f77b4", False),
    "conductor_cold_rest": ("doit-conductor, rest of the workflow -n 2", "#17becf", False),
    "conductor_first_noop": ("doit-conductor, no-op (doit's walk)", "#17becf", True),
    "conductor_noop": ("doit-conductor, no-op (fast path)", "#1f77b4", True),
    "floor": ("floor (parse + write the same files)", "#2ca02c", False),
    "careful_cold": ("careful reference, cold -n 2", "#ff7f0e", False),
    "careful_noop": ("careful reference, no-op", "#ff7f0e", True),
    "naive_cold": ("naive reference, cold -n 2", "#d62728", False),
    "naive_noop": ("naive reference, no-op", "#d62728", True),
}


def timed(root: Path, *args: str) -> float:
    start = time.perf_counter()
    doit(root, *args, timeout=3600)
    return time.perf_counter() - start


def measure(sizes: list[int], reference_max: int, rounds: int) -> dict[str, dict[int, float]]:
    results: dict[str, dict[int, float]] = {key: {} for key in SERIES}
    with tempfile.TemporaryDirectory(prefix="conductor-scaling-") as scratch:
        workloads = Workloads(Path(scratch))
        for size in sizes:
            spec = WorkloadSpec(size)
            root = workloads.fresh(spec)
            results["conductor_cold"][size] = timed(root, "-n", "2", "codegen")
            results["floor"][size] = floor_seconds(root / "patterns", file_sizes(root / "output"),
                                                   Path(scratch) / f"floor-{size}")
            workloads.discard(Path(scratch) / f"floor-{size}")
            results["conductor_cold_rest"][size] = timed(root, "-n", "2")
            (root / ".conductor" / "noop" / "snapshot").unlink()   # force doit's walk
            results["conductor_first_noop"][size] = timed(root)
            results["conductor_noop"][size] = min(timed(root) for _ in range(rounds))
            workloads.discard(root)
            for style in ("careful", "naive"):
                if size > reference_max:
                    continue
                root = workloads.fresh_reference(spec, style)
                results[f"{style}_cold"][size] = timed(root, "-n", "2")
                results[f"{style}_noop"][size] = min(timed(root) for _ in range(rounds))
                workloads.discard(root)
            print(size, {k: round(v[size], 3) for k, v in results.items() if size in v},
                  flush=True)
    return results


def svg_plot(results: dict[str, dict[int, float]], width: int = 720, height: int = 520) -> str:
    """A log-log line plot of seconds against patterns."""
    left, right, top, bottom = 60, 20, 20, 160
    points = [(n, s) for series in results.values() for n, s in series.items()]
    xs = [math.log10(n) for n, _ in points]
    ys = [math.log10(s) for _, s in points]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))

    def px(n: float) -> float:
        return left + (math.log10(n) - x0) / (x1 - x0 or 1) * (width - left - right)

    def py(s: float) -> float:
        return top + (y1 - math.log10(s)) / (y1 - y0 or 1) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for e in range(x0, x1 + 1):
        x = px(10 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{10 ** e:,}</text>')
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{10.0 ** e:g} s</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - bottom + 34}" '
               'text-anchor="middle">patterns (log scale)</text>')
    for index, (key, (label, colour, dashed)) in enumerate(SERIES.items()):
        series = sorted(results.get(key, {}).items())
        if not series:
            continue
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        path = " ".join(f"{px(n):.1f},{py(s):.1f}" for n, s in series)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for n, s in series:
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(s):.1f}" r="3" fill="{colour}"/>')
        ly = height - bottom + 50 + (index // 2) * 16
        lx = left + (index % 2) * 320
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 30}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--reference-max", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    results = measure(args.sizes, args.reference_max, args.rounds)
    DOCS.mkdir(exist_ok=True)
    (DOCS / "performance-scaling.json").write_text(json.dumps(
        {key: {str(n): round(s, 4) for n, s in series.items()} for key, series in results.items()},
        indent=1) + "\n")
    (DOCS / "performance-scaling.svg").write_text(svg_plot(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
