"""What the benchmarks share: run the real doit, workloads, comparisons, targets.

(A module of its own, not conftest.py, so the benchmark files can import it.)
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.workload import WorkloadSpec, write_workload

BENCHMARKS = Path(__file__).resolve().parent
# The plain-doit references: "naive" builds a jinja2.Environment per render,
# "careful" keeps one Environment and the parsed patterns per process.
REFERENCES = {"naive": BENCHMARKS / "reference" / "dodo.py",
              "careful": BENCHMARKS / "reference" / "careful_dodo.py"}


def doit(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """The real `doit` (this interpreter's, not a shim) in `root`; failures raise.

    Bytecode caching stays on, as on a user's machine: with it off (this sandbox
    sets PYTHONDONTWRITEBYTECODE) every run recompiles the project's modules,
    ~35 ms that the reference, with one small dodo.py, mostly does not pay."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run([sys.executable, "-m", "doit", *args], cwd=root, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"doit {' '.join(args)} in {root} exited {result.returncode}\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def timed(function, *args) -> float:
    """Wall seconds of `function(*args)`."""
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def executed(result: subprocess.CompletedProcess) -> list[str]:
    """Tasks a run executed (both reporters print '.  name' for those)."""
    return [line[3:] for line in result.stdout.splitlines() if line.startswith(".  ")]


class Workloads:
    """Pristine generated workloads, one per spec, copied for each use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pristine: dict[WorkloadSpec, Path] = {}
        self._copies = 0

    def pristine(self, spec: WorkloadSpec) -> Path:
        if spec not in self._pristine:
            path = self.root / "pristine" / f"p{spec.patterns}-s{spec.seed}-d{spec.compile_delay_ms}" \
                f"{'-i' if spec.independent else ''}"
            self._pristine[spec] = write_workload(path, spec)
        return self._pristine[spec]

    def copy(self, source: Path) -> Path:
        self._copies += 1
        target = self.root / "copies" / f"{self._copies:04d}-{source.name}"
        shutil.copytree(source, target, symlinks=True)
        return target

    def fresh(self, spec: WorkloadSpec) -> Path:
        """A copy of the workload with nothing built."""
        return self.copy(self.pristine(spec))

    def fresh_reference(self, spec: WorkloadSpec, style: str = "naive") -> Path:
        """The same patterns and templates under a plain-doit reference dodo.py
        (`style`: a key of REFERENCES; no pyproject.toml: doit's defaults)."""
        self._copies += 1
        source = self.pristine(spec)
        target = self.root / "copies" / f"{self._copies:04d}-{style}-{source.name}"
        target.mkdir(parents=True)
        shutil.copytree(source / "patterns", target / "patterns")
        shutil.copytree(source / "templates", target / "templates")
        shutil.copy2(REFERENCES[style], target / "dodo.py")
        return target

    def discard(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Comparisons:
    """Figures measured in this run, by name, so a later benchmark can set its
    own against an earlier one (side by side, same machine, same minute)."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)   # run -> path -> sha256

    def record(self, name: str, benchmark) -> float:
        data = list(benchmark.stats.stats.data)
        self.seconds[name] = data
        return min(data)

    def best(self, name: str) -> float | None:
        data = self.seconds.get(name)
        return min(data) if data else None


# `--bench-scale`, set by conftest.py when pytest starts.  At "smoke" no target
# is asserted whatever a benchmark asks: smoke answers "does the suite run?",
# on any machine, in any load; the figures are still recorded.
SMOKE = "smoke"
_scale = "quick"


def set_scale(scale: str) -> None:
    global _scale
    _scale = scale


def asserts_targets(enforce: bool) -> bool:
    """Whether a target the benchmark wants enforced is asserted at this scale."""
    return enforce and _scale != SMOKE


def check_target(benchmark, enforce: bool, name: str, value: float, ok: bool, target: str) -> None:
    """Record a target's measured value with the benchmark; assert it when
    `enforce` (the `enforce_targets` fixture: at full scale; a few targets
    whose workload does not depend on the scale: at quick too), never at smoke."""
    check_targets(benchmark, enforce, (name, value, ok, target))


def check_targets(benchmark, enforce: bool, *targets: tuple[str, float, bool, str]) -> None:
    """`check_target` for several (name, value, ok, target) of one benchmark:
    every one is recorded before the missed ones are asserted, together."""
    for name, value, ok, target in targets:
        benchmark.extra_info[name] = round(value, 4)
        benchmark.extra_info[f"{name}_target"] = target
        benchmark.extra_info[f"{name}_met"] = ok
    missed = [f"{name} = {value:.3f}, target {target}" for name, value, ok, target in targets
              if not ok]
    if asserts_targets(enforce):
        assert not missed, "; ".join(missed)


class Partners:
    """Other runs timed next to each round of a pedantic benchmark: just before it
    in even rounds, just after it (in mirror order) in odd ones.  Both sides of a
    ratio then share the same minute's load, and neither always runs right
    after the clean-up of the round before.  `seconds[name][r]` pairs with the
    benchmark's round r."""

    def __init__(self, partners: dict[str, Callable[[], float]]) -> None:
        self.partners = partners
        self.seconds: dict[str, list[float]] = {name: [] for name in partners}
        self.rounds = 0

    def _run(self, names) -> None:
        for name in names:
            self.seconds[name].append(self.partners[name]())

    def before_round(self) -> None:
        """From the benchmark's setup, before its round."""
        if self.rounds % 2 == 0:
            if self.rounds:
                self._run(reversed(self.partners))   # after the previous, odd, round
            self._run(self.partners)
        self.rounds += 1

    def finish(self) -> None:
        """After the benchmark: the partners of its last round if that was odd."""
        if self.rounds % 2 == 0 and self.rounds:
            self._run(reversed(self.partners))


def paired_ratios(ours: list[float], theirs: list[float]) -> tuple[float, float]:
    """(ratio of the best rounds, median of the round-by-round ratios)."""
    return min(ours) / min(theirs), statistics.median(a / b for a, b in zip(ours, theirs))
