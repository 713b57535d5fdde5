"""The closing line of a whole run (`doit_conductor.profiling.run_tally`), from hand-made records."""
from __future__ import annotations

from doit_conductor.profiling.records import (
    CACHED, FAILED, IGNORED, NOT_RUN, RAN, UP_TO_DATE, TaskRecord)
from doit_conductor.profiling.run_tally import NAMES_SHOWN, closing_lines, run_tally


def _records(**statuses: str) -> tuple[TaskRecord, ...]:
    return tuple(TaskRecord(name=name.replace("_", "-"), status=status)
                 for name, status in statuses.items())


def test_a_clean_run_is_one_line_with_every_outcome_and_the_wall_time():
    records = _records(a=RAN, b=RAN, c=UP_TO_DATE, d=CACHED)
    assert closing_lines(run_tally(records), 1.214) == [
        "run: 2 ran, 1 up to date, 1 cached, 0 failed, 0 not run in 1.21 s"]


def test_a_failed_run_names_the_failed_tasks_and_those_it_stopped_in_definition_order():
    records = _records(zeta=NOT_RUN, first=RAN, broken=FAILED, alpha=NOT_RUN, skip=IGNORED)
    tally = run_tally(records, order=("first", "broken", "zeta", "alpha", "skip"))
    assert (tally.ran, tally.failed, tally.not_run, tally.ignored, tally.tasks) == (1, 1, 2, 1, 5)
    assert closing_lines(tally, 150.0) == [
        "run: 1 ran, 0 up to date, 0 cached, 1 failed, 2 not run, 1 ignored in 2 min 30 s",
        "failed: broken",
        "not run because of the failure: zeta, alpha"]


def test_an_interrupted_run_says_so_and_long_lists_are_cut():
    names = {f"t{i:02d}": NOT_RUN for i in range(NAMES_SHOWN + 3)}
    lines = closing_lines(run_tally(_records(**names)), 0.5, interrupted=True)
    assert lines[0].endswith("interrupted after 0.50 s")
    assert lines[1] == ("not run because of the interruption: "
                        + ", ".join(f"t{i:02d}" for i in range(NAMES_SHOWN)) + ", ... (and 3 more)")
