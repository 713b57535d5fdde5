"""The `[k/N] task 0.21s, ~3.4s left` lines of a run, as the reporter shows them.

Which tasks are in the run (N grows as delayed creators make sub-tasks; the
sub-tasks of creators that have not run yet count as in the last run), which
are done, the estimate of what is left (`progress.RunProgress`, none once a
task failed), and when a line is due: at most one per interval, so builds of
many quick tasks do not double their output; the first and the last always
show, and a run whose last lines were held back ends with where it stopped.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from doit_conductor.glue import creators
from doit_conductor.profiling import progress, store
from doit_conductor.profiling.clock import Clock

INTERVAL_S = 0.5  # at most one progress line per interval


class ProgressLines:
    """Progress of one run over doit's task dict (which delayed creation grows)."""

    def __init__(self, tasks: dict, selected: list[str], clock: Clock) -> None:
        self._tasks = tasks
        self._selected = selected
        self._clock = clock
        self._started = clock.monotonic()
        self.progress = progress.RunProgress(progress.tasks_in_run(tasks, selected))
        self._pending_creators = creators.pending_creators(tasks, self.progress.in_run)
        self._tasks_known = len(tasks)
        self._next_line = 0.0
        self._held = False    # a line was skipped since the last one shown
        self.failed = False   # then the time left is no estimate of anything

    def in_run(self) -> set[str]:
        """Every task of the run as known now."""
        return self.progress.in_run | progress.tasks_in_run(self._tasks, self._selected)

    def forget(self, name: str) -> None:
        self.progress.forget(name)

    def finished(self, name: str, wall_s: float | None) -> None:
        """`name` reached its outcome (`wall_s`: the time it worked, if it did)."""
        if len(self._tasks) != self._tasks_known:
            # Tasks were created during the run (delayed creation): widen N.
            self._tasks_known = len(self._tasks)
            self.progress.widen(progress.tasks_in_run(self._tasks, self._selected))
            created = self._pending_creators - creators.pending_creators(
                self._tasks, self._pending_creators)
            if created:
                self.progress.settle(f"{name}:" for name in created)
                self._pending_creators -= created
        self.progress.finish(name, wall_s)

    def line(self, name: str, wall_s: float, workers: int,
             history: Callable[[], tuple[Path, Path | None] | None]) -> str | None:
        """The line to show after `name` finished, or None when it is held back.
        `history()` is (metrics root, this run's directory) to read earlier runs'
        durations from, read once, when the first line needs an estimate."""
        now = self._clock.monotonic()
        last = len(self.progress.done) >= self.progress.total
        if now < self._next_line and not last:
            self._held = True
            return None
        self._held = False
        self._next_line = now + INTERVAL_S
        if self.progress.previous is None:
            previous: dict = {}
            where = history()
            if where is not None:
                root, exclude = where
                # Sub-tasks not created yet count as in the last run, so N is right from [1/N].
                self.progress.expect(store.previous_subtasks(root, self._pending_creators,
                                                             exclude=exclude))
                previous = store.previous_durations(root, self.progress.in_run, exclude=exclude)
            self.progress.set_previous(previous)
        left = None if self.failed else self.progress.left_s(workers)
        return progress.progress_line(len(self.progress.done), self.progress.total,
                                      name, wall_s, left)

    def closing(self) -> str | None:
        """Where the run ended, when quick tasks hid the last lines."""
        if not self._held:
            return None
        return progress.final_line(len(self.progress.done), self.progress.total,
                                   self._clock.monotonic() - self._started)
