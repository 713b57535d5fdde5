"""The closing line of a whole run, from its task records.

Pure: records in, a `RunTally` and its console lines out.  The reporter prints
the lines last (not at `-v 0`), after the codegen summary:

    run: 30 ran, 2 up to date, 0 cached, 1 failed, 0 not run in 1.21 s

and, when tasks failed or did not run because of a failure (or a Ctrl-C),
which ones:

    failed: codegen:currency
    not run because of the failure: import-check, generated-tests, ... (and 9 more)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from doit_conductor.profiling.records import (
    CACHED, FAILED, IGNORED, NOT_RUN, RAN, UP_TO_DATE, TaskRecord)

NAMES_SHOWN = 8  # a failed run of 1,000 tasks must not print 1,000 names


@dataclass(frozen=True, slots=True)
class RunTally:
    """How many tasks of one run reached each outcome, and which did not run."""

    ran: int
    up_to_date: int
    cached: int        # restored from the action cache (doit_conductor.scale)
    failed: int
    not_run: int       # a failure (or a Ctrl-C) stopped the run before them
    ignored: int       # `doit ignore`: shown only when there are some
    failed_names: tuple[str, ...]
    not_run_names: tuple[str, ...]

    @property
    def tasks(self) -> int:
        return (self.ran + self.up_to_date + self.cached + self.failed
                + self.not_run + self.ignored)


def run_tally(records: Sequence[TaskRecord], order: Sequence[str] = ()) -> RunTally:
    """The outcome counts of `records` (one per task of the run); names listed
    in the order of `order` (the tasks as defined), others after them by name."""
    position = {name: index for index, name in enumerate(order)}

    def named(status: str) -> tuple[str, ...]:
        names = [r.name for r in records if r.status == status]
        return tuple(sorted(names, key=lambda n: (position.get(n, len(position)), n)))

    def count(status: str) -> int:
        return sum(r.status == status for r in records)

    return RunTally(ran=count(RAN), up_to_date=count(UP_TO_DATE), cached=count(CACHED),
                    failed=count(FAILED), not_run=count(NOT_RUN), ignored=count(IGNORED),
                    failed_names=named(FAILED), not_run_names=named(NOT_RUN))


def closing_lines(tally: RunTally, wall_s: float, *, interrupted: bool = False) -> list[str]:
    """`run: 30 ran, 2 up to date, 0 cached, 1 failed, 0 not run in 1.21 s`,
    then the failed tasks and those that did not run because of it."""
    counts = (f"{tally.ran:,} ran, {tally.up_to_date:,} up to date, {tally.cached:,} cached, "
              f"{tally.failed:,} failed, {tally.not_run:,} not run")
    if tally.ignored:
        counts += f", {tally.ignored:,} ignored"
    ended = "interrupted after" if interrupted else "in"
    lines = [f"run: {counts} {ended} {_seconds(wall_s)}"]
    if tally.failed_names:
        lines.append(f"failed: {_names(tally.failed_names)}")
    if tally.not_run_names:
        cause = (" because of the interruption" if interrupted
                 else " because of the failure" if tally.failed else "")
        lines.append(f"not run{cause}: {_names(tally.not_run_names)}")
    return lines


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        shown += f", ... (and {len(names) - NAMES_SHOWN:,} more)"
    return shown


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.2f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds:02d} s"
