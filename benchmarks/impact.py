"""The design review's Combined Impact Analysis table, measured: docs/optimisations.md.

    python benchmarks/impact.py [--patterns 1000] [--seed-delay-ms 1000] [--workers 3]
                                [--repeat 3] [--output docs/optimisations.md]

Two workloads (`benchmarks/workload.py`): the seed's shape (3 independent
patterns whose TypeScript output an external compiler takes --seed-delay-ms
to compile, as the review's Task 8 is dominated by generating and compiling)
and a library of --patterns synthetic patterns.  Five configurations of the
three optimisations, each switched off its own way:

* template bytecode cache: `[tool.conductor.template_cache] enabled = false`;
* parallel generation: `doit -n 1` instead of `-n <workers>`;
* incremental compilation: `[tool.conductor] incremental = false`, which
  rebuilds and compiles every pattern's files on every run.

For each: the first run (cold, nothing built: `doit -n N codegen`) and a
subsequent run after 20 % of the patterns were edited (templates unchanged),
each in a fresh copy, --repeat times (the median is reported).  Task 8's time
is the span of its codegen sub-tasks in the run record; the cache hit rate is
summed over both runs.  Every configuration's output/ is compared, after each
run, with the sequential uncached build's ("none") byte for byte; a difference
fails the script (exit 1) and is marked in the table.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_support import Workloads, doit  # noqa: E402
from benchmarks.workload import WorkloadSpec, _toml_table  # noqa: E402

COMMAND = "python benchmarks/impact.py"
FIRST, SUBSEQUENT = "first", "subsequent"


@dataclass(frozen=True, slots=True)
class Configuration:
    name: str
    template_cache: bool
    parallel: bool
    incremental: bool


CONFIGURATIONS = (
    Configuration("none", False, False, False),
    Configuration("template cache", True, False, False),
    Configuration("parallel generation", False, True, False),
    Configuration("incremental compilation", False, False, True),
    Configuration("all three", True, True, True),
)
NONE, ALL = CONFIGURATIONS[0], CONFIGURATIONS[-1]
ALONE = CONFIGURATIONS[1:4]


@dataclass
class Cell:
    """One configuration on one workload: figures of each repetition."""

    task8_s: dict[str, list[float]] = field(default_factory=lambda: {FIRST: [], SUBSEQUENT: []})
    command_s: dict[str, list[float]] = field(default_factory=lambda: {FIRST: [], SUBSEQUENT: []})
    hits: int = 0
    misses: int = 0
    identical: bool = True

    def median(self, run: str, task8: bool = True) -> float:
        return statistics.median((self.task8_s if task8 else self.command_s)[run])

    def shown(self, run: str, task8: bool = True) -> str:
        """The median, with the spread of the repetitions when there were several."""
        values = (self.task8_s if task8 else self.command_s)[run]
        text = _s(statistics.median(values))
        return text if len(values) < 2 else f"{text} ({min(values):.2f}-{max(values):.2f} s)"

    @property
    def hit_rate(self) -> float | None:
        return self.hits / (self.hits + self.misses) if self.hits + self.misses else None


# -- measuring ---------------------------------------------------------------

def configure(root: Path, config: Configuration) -> None:
    """Switch the template cache and incremental compilation in the copy's pyproject."""
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]
    tool["conductor"]["incremental"] = config.incremental
    tool["conductor"].setdefault("template_cache", {})["enabled"] = config.template_cache
    lines = ["# benchmarks/impact.py: configuration " + repr(config.name), ""]
    lines += _toml_table("tool.doit", tool["doit"]) + _toml_table("tool.conductor", tool["conductor"])
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n")


def edit_patterns(root: Path, share: float) -> int:
    """Edit `share` of the patterns (evenly spread, at least one): their description."""
    files = sorted((root / "patterns").glob("*.yaml"))
    count = max(1, round(len(files) * share))
    step = len(files) / count
    for index in range(count):
        path = files[int(index * step)]
        text = path.read_text()
        edited = text.replace("description: ", "description: Edited. ", 1)
        if edited == text:
            raise RuntimeError(f"{path}: no description to edit")
        path.write_text(edited)
    return count


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    base = root / "output"
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def codegen_record(root: Path) -> dict:
    """Task 8's closing summary from the newest run record."""
    from doit_conductor.profiling.store import list_runs, load_run, metrics_root
    run = load_run(list_runs(metrics_root(root))[-1])
    if run.summary.codegen is None:
        raise RuntimeError(f"{root}: the run recorded no codegen sub-tasks")
    return run.summary.codegen


def run_codegen(root: Path, workers: int) -> tuple[float, dict]:
    start = time.perf_counter()
    doit(root, "-n", str(workers), "codegen", timeout=3600)
    return time.perf_counter() - start, codegen_record(root)


def measure_workload(workloads: Workloads, spec: WorkloadSpec, workers: int, repeat: int,
                     edit_share: float, progress) -> dict[str, Cell]:
    cells = {config.name: Cell() for config in CONFIGURATIONS}
    for round_number in range(repeat):
        reference: dict[str, str] = {}
        for config in CONFIGURATIONS:  # "none" first: it is the reference
            root = workloads.fresh(spec)
            configure(root, config)
            cell = cells[config.name]
            for run in (FIRST, SUBSEQUENT):
                if run == SUBSEQUENT:
                    edit_patterns(root, edit_share)
                wall, codegen = run_codegen(root, workers if config.parallel else 1)
                cell.command_s[run].append(wall)
                cell.task8_s[run].append(codegen["seconds"])
                cell.hits += int(codegen["cache_hits"])
                cell.misses += int(codegen["cache_misses"])
                digest = tree_digest(root)
                reference.setdefault(run, digest)
                if digest != reference[run]:
                    cell.identical = False
                progress(f"{spec.patterns} patterns, round {round_number + 1}, {config.name}, "
                         f"{run}: {codegen['seconds']:.2f} s (command {wall:.2f} s)")
            workloads.discard(root)
    return cells


# -- the document (pure) -------------------------------------------------------

def _s(value: float) -> str:
    return f"{value:.2f} s"


def _saving(none: float, value: float) -> str:
    if none <= 0:
        return "-"
    return f"{value - none:+.2f} s ({(value - none) / none:+.0%})"


def measured_table(cells: dict[str, Cell]) -> list[str]:
    none = cells[NONE.name]
    lines = ["| configuration | first run: Task 8 | `doit codegen` | saving (Task 8) "
             "| subsequent run: Task 8 | `doit codegen` | saving (Task 8) "
             "| template cache hit rate, both runs | output = sequential uncached |",
             "|---|---|---|---|---|---|---|---|---|"]
    for config in CONFIGURATIONS:
        cell = cells[config.name]
        rate = "-" if cell.hit_rate is None else f"{cell.hit_rate:.0%} ({cell.hits} of {cell.hits + cell.misses})"
        lines.append(
            f"| {config.name} | {cell.shown(FIRST)} | {cell.shown(FIRST, task8=False)} "
            f"| {_saving(none.median(FIRST), cell.median(FIRST)) if config is not NONE else '-'} "
            f"| {cell.shown(SUBSEQUENT)} | {cell.shown(SUBSEQUENT, task8=False)} "
            f"| {_saving(none.median(SUBSEQUENT), cell.median(SUBSEQUENT)) if config is not NONE else '-'} "
            f"| {rate} | {'identical' if cell.identical else '**DIFFERS**'} |")
    return lines


def review_table(cells: dict[str, Cell]) -> list[str]:
    """The review's Combined Impact Analysis layout: savings against "none"."""
    none = cells[NONE.name]

    def savings(cell: Cell) -> tuple[float, float]:
        return (cell.median(FIRST) - none.median(FIRST),
                cell.median(SUBSEQUENT) - none.median(SUBSEQUENT))

    lines = ["| Optimization | First Run | Subsequent Runs | Average |", "|---|---|---|---|"]
    summed = [0.0, 0.0]
    for config in ALONE:
        first, later = savings(cells[config.name])
        summed[0] += first
        summed[1] += later
        lines.append(f"| {config.name.capitalize()} (alone) | {first:+.2f}s | {later:+.2f}s "
                     f"| {(first + later) / 2:+.2f}s |")
    lines.append(f"| Sum of the three alone | {summed[0]:+.2f}s | {summed[1]:+.2f}s "
                 f"| {(summed[0] + summed[1]) / 2:+.2f}s |")
    first, later = savings(cells[ALL.name])
    lines.append(f"| **All three together (measured)** | **{first:+.2f}s** | **{later:+.2f}s** "
                 f"| **{(first + later) / 2:+.2f}s** |")
    lines.append(f"| Task 8 with none / all three | {_s(none.median(FIRST))} / "
                 f"{_s(cells[ALL.name].median(FIRST))} | {_s(none.median(SUBSEQUENT))} / "
                 f"{_s(cells[ALL.name].median(SUBSEQUENT))} | |")
    return lines


@dataclass(frozen=True, slots=True)
class Context:
    command: str
    when: str
    commit: str
    host: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    duration_s: float


def document(results: list[tuple[str, dict[str, Cell]]], ctx: Context, args) -> str:
    load = (f"load average {ctx.load_before[0]:.1f} / {ctx.load_before[1]:.1f} / "
            f"{ctx.load_before[2]:.1f} (1/5/15 min) before, {ctx.load_after[0]:.1f} / "
            f"{ctx.load_after[1]:.1f} / {ctx.load_after[2]:.1f} after")
    out = [
        "# The three optimisations, measured",
        "",
        "The design review this project started from (not part of the repository) estimated what each Task 8 optimisation saves, "
        "first run against subsequent runs (its *Combined Impact Analysis*).  This file holds "
        "the same table with measured seconds.  It is written by the script; do not edit it "
        "by hand, re-run:",
        "",
        "```sh",
        ctx.command,
        "```",
        "",
        f"Measured {ctx.when} at commit {ctx.commit} on {ctx.host}, in {ctx.duration_s / 60:.1f} "
        f"minutes; median of {args.repeat} repetition(s), each configuration in a fresh copy "
        "(in parentheses: the fastest and slowest repetition).",
        "",
        f"**The machine was shared**: other sessions ran builds and test suites at the same time "
        f"({load}; the machine has {os.cpu_count()} cores).  Single timings on it vary by "
        "±30 % (docs/performance.md); read small differences as noise, and re-run the command "
        "on a quiet machine for figures to quote.",
        "",
        "## How each optimisation is switched off",
        "",
        "| optimisation | on | off |",
        "|---|---|---|",
        "| template bytecode cache | `[tool.conductor.template_cache] enabled = true` (default) "
        "| `enabled = false`: every process compiles each template from source |",
        f"| parallel generation | `doit -n {args.workers} codegen` | `doit -n 1 codegen` |",
        "| incremental compilation | `[tool.conductor] incremental = true` (default): only "
        "patterns whose inputs changed run, and only files whose content changed are compiled "
        "| `incremental = false`: every pattern is rebuilt and every generated file compiled, "
        "every run; import-check, generated-tests, verify-package, api-surface and "
        "reproducibility check everything whenever they run, docs renders every page, package "
        "deflates every module into the wheel, and checksums, code-stats, docs-links, "
        "sql-schema, schema-catalog and reproducibility read every file (otherwise only "
        "the modules whose files, or the files they import, changed, only the patterns whose "
        "raw inputs or files changed, only the pages whose inputs changed, only the modules "
        "the wheel before does not hold, and only the files whose stat changed) |",
        "",
        "*First run*: nothing built, `doit -n N codegen` (tasks 1-8).  *Subsequent run*: the "
        f"same project after {args.edit_share:.0%} of the patterns were edited (their "
        "description; templates unchanged), as the review assumes.  *Task 8* is the span of the "
        "codegen sub-tasks in the run record (first start to last end); *`doit codegen`* is "
        "the whole command, tasks 1-7 and start-up included.  Savings are against *none*, "
        "negative is faster.  The hit rate sums the template cache's hits and misses over "
        "both runs (\"-\": cache off, never consulted).  Every configuration's `output/` was "
        "compared byte for byte with the sequential uncached build's (*none*) after each run.",
    ]
    for title, cells in results:
        out += ["", f"## {title}", "", *measured_table(cells), "",
                "In the review's layout (Task 8 seconds saved against *none*; average: the "
                "mean of the two runs):", "", *review_table(cells)]
    out += ["", "## What each optimisation can save", "",
            "* **Parallel generation** overlaps patterns on workers.  Where a pattern waits on "
            "something else (the seed shape's external compiler) the waits overlap, up to "
            f"{args.workers} at a time; where patterns are CPU-bound (the library) it is bounded "
            f"by the machine's {os.cpu_count()} cores and whatever else runs on them.  Starting "
            "the worker processes is a fixed cost.",
            "* **Incremental compilation** can only save on subsequent runs, in proportion to "
            "the patterns left untouched; a first run has nothing to skip.",
            "* **The template cache** saves compiling each template from source once per worker "
            "process: a fixed cost per process, independent of the library's size, so its "
            "share is largest where little else happens (and it only hits from the second "
            "process on: a first run's misses fill it).",
            "* **Sum of the three alone** against **all three together**: savings only add up "
            "when the optimisations save different seconds; e.g. after incremental compilation "
            "little is left for parallel workers to share.", ""]
    return "\n".join(out)


# -- the command ------------------------------------------------------------------

def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    parser.add_argument("--patterns", type=int, default=1000, help="size of the library workload")
    parser.add_argument("--seed-delay-ms", type=int, default=1000,
                        help="the seed shape's external compile time per pattern")
    parser.add_argument("--workers", type=int, default=3, help="-n with parallel generation on")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the median is shown")
    parser.add_argument("--edit-share", type=float, default=0.2,
                        help="share of patterns edited before the subsequent run")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "optimisations.md")
    args = parser.parse_args(argv)
    if min(args.patterns, args.workers, args.repeat) < 1 or not 0 < args.edit_share <= 1:
        parser.error("--patterns, --workers and --repeat must be positive, --edit-share in (0, 1]")
    shown = [COMMAND] + [f"{flag} {value}" for flag, value, default in (
        ("--patterns", args.patterns, 1000), ("--seed-delay-ms", args.seed_delay_ms, 1000),
        ("--workers", args.workers, 3), ("--repeat", args.repeat, 3),
        ("--edit-share", args.edit_share, 0.2)) if value != default]

    def progress(line: str) -> None:
        sys.stderr.write(f"impact: {line}\n")

    load_before, began = os.getloadavg(), time.perf_counter()
    workloads_spec = (
        (f"Seed shape: 3 independent patterns, {args.seed_delay_ms} ms external compile each "
         f"(`--compile-delay-ms {args.seed_delay_ms} --independent`)",
         WorkloadSpec(3, compile_delay_ms=args.seed_delay_ms, independent=True)),
        (f"Library: {args.patterns:,} synthetic patterns, built-in validators only",
         WorkloadSpec(args.patterns)),
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="conductor-impact-") as scratch:
        workloads = Workloads(Path(scratch))
        for title, spec in workloads_spec:
            results.append((title, measure_workload(workloads, spec, args.workers, args.repeat,
                                                    args.edit_share, progress)))
    ctx = Context(
        command=" ".join(shown),
        when=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), commit=_commit(),
        host=f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        load_before=load_before, load_after=os.getloadavg(),
        duration_s=time.perf_counter() - began)
    from doit_conductor.fsio import atomic_write
    atomic_write(args.output, document(results, ctx, args).encode())
    progress(f"wrote {args.output}")
    differing = [f"{title}: {name}" for title, cells in results
                 for name, cell in cells.items() if not cell.identical]
    if differing:
        sys.stderr.write("impact: output differs from the sequential uncached build in "
                         + "; ".join(differing) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
