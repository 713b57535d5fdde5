"""Task 8's five phases, timed inside each codegen sub-task and kept as counters.

The design review splits code generation into parse, generate, compile,
quality and write.  A codegen sub-task runs them interleaved (render a file,
validate it, check it, next file...), so a `PhaseClock` is a lap timer: it is
always in exactly one phase, and `enter(phase)` charges the time since the
last switch to the phase it leaves.  The phases therefore add up to the time
between `start` and `stop` with nothing lost in between; what the probe
measures around the action beyond that (doit calling the action, capturing its
output) is the task's *overhead*.

Figures go to the task's counters (`doit_conductor.profiling.counters`) as
`phase_<name>_s` (monotonic wall clock) and `phase_<name>_cpu_s` (this
process's CPU time; an external validator's own CPU is in the task's
`cpu_user_s`/`cpu_sys_s`, not here).  Stdlib only, imported by task actions.
"""
from __future__ import annotations

import threading
import time

from doit_conductor.profiling import counters

PARSE = "parse"
GENERATE = "generate"
COMPILE = "compile"
QUALITY = "quality"
WRITE = "write"
PHASES = (PARSE, GENERATE, COMPILE, QUALITY, WRITE)
# What each phase covers:
#   parse     read the validated pattern, its dependencies and its previous
#             manifest fragment; set up the toolkit (a worker's first sub-task
#             imports it)
#   generate  render the templates (loading/compiling them: the bytecode
#             cache's part)
#   compile   compile/validate each changed file (built-in parsers, external
#             compilers)
#   quality   quality checks on each changed file (line length, external checkers)
#   write     checksums, atomic writes, pruning and the manifest fragment


def wall_counter(phase: str) -> str:
    """The counter holding a phase's wall seconds."""
    return f"phase_{phase}_s"


def cpu_counter(phase: str) -> str:
    """The counter holding a phase's CPU seconds (this process only)."""
    return f"phase_{phase}_cpu_s"


class PhaseClock:
    """A lap timer over the five phases (see the module docstring)."""

    __slots__ = ("_phase", "_mono", "_cpu", "wall", "cpu")

    def __init__(self, phase: str) -> None:
        self._phase = phase
        self._mono = time.monotonic()
        self._cpu = time.process_time()
        self.wall = dict.fromkeys(PHASES, 0.0)
        self.cpu = dict.fromkeys(PHASES, 0.0)

    def enter(self, phase: str) -> None:
        """Charge the time since the last switch to the current phase; go to `phase`."""
        mono, cpu = time.monotonic(), time.process_time()
        self.wall[self._phase] += mono - self._mono
        self.cpu[self._phase] += cpu - self._cpu
        self._phase, self._mono, self._cpu = phase, mono, cpu

    def stop(self) -> None:
        """Charge the last lap and add every phase to the task's counters."""
        self.enter(self._phase)
        for phase in PHASES:
            counters.add(wall_counter(phase), self.wall[phase])
            counters.add(cpu_counter(phase), self.cpu[phase])


_local = threading.local()


def start(phase: str = PARSE) -> PhaseClock:
    """Start this thread's clock (the codegen action, first thing)."""
    clock = PhaseClock(phase)
    _local.clock = clock
    return clock


def enter(phase: str) -> None:
    """Switch this thread's clock to `phase`; nothing when no clock runs (a caller
    outside a timed action, e.g. a unit test of the pipeline)."""
    clock = getattr(_local, "clock", None)
    if clock is not None:
        clock.enter(phase)


def lap() -> dict[str, float] | None:
    """The wall seconds of every phase so far (the current lap charged), to
    measure one pattern inside a batch; None when no clock runs."""
    clock = getattr(_local, "clock", None)
    if clock is None:
        return None
    clock.enter(clock._phase)
    return dict(clock.wall)


def pattern_counter(pattern: str, phase: str | None = None) -> str:
    """The counter of one pattern's wall seconds inside a batch (all its phases,
    or one): `pattern_s:<name>`, `phase_<phase>_s:<name>`."""
    return f"pattern_s:{pattern}" if phase is None else f"{wall_counter(phase)}:{pattern}"


def record_pattern(pattern: str, since: dict[str, float] | None) -> None:
    """Add the phases spent since `lap()` returned `since` to `pattern`'s counters:
    a batch builds many patterns in one task, and the report still shows each
    pattern's phases (doit_conductor.report.codegen_phases)."""
    now = lap()
    if now is None or since is None:
        return
    total = 0.0
    for phase in PHASES:
        spent = now[phase] - since[phase]
        if spent > 0:
            counters.add(pattern_counter(pattern, phase), spent)
            total += spent
    counters.add(pattern_counter(pattern), total)


def stop() -> None:
    """Stop this thread's clock and record it (the codegen action, last thing)."""
    clock = getattr(_local, "clock", None)
    _local.clock = None
    if clock is not None:
        clock.stop()
