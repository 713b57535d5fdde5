"""Pure parts of the reporter: which tasks a run covers, progress and time left
(doit's task objects read through `compat`)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping



def tasks_in_run(tasks: Mapping[str, object], selected: Iterable[str]) -> set[str]:
    """Names of the selected tasks and every task they wait for, transitively.

    `tasks` maps names to doit Task objects (anything with `task_dep`,
    `setup_tasks` and `calc_dep`); unknown names are skipped, as doit resolves
    them later (delayed task creation) or fails on them itself.
    """
    seen: set[str] = set()
    stack = [name for name in selected if name in tasks]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        task = tasks[name]
        # The same names as dependencies(task), without building its ordered
        # list: this walks every task of the run, twice per run.
        for deps in (getattr(task, "task_dep", ()), getattr(task, "setup_tasks", ()),
                     getattr(task, "calc_dep", ())):
            for dep in deps:
                if dep not in seen and dep in tasks:
                    stack.append(dep)
    return seen


def dependencies(task: object) -> list[str]:
    """Tasks that must finish before `task`: task_dep, then setup and calc_dep tasks."""
    names = list(getattr(task, "task_dep", ()))
    for extra in (getattr(task, "setup_tasks", ()), sorted(getattr(task, "calc_dep", ()))):
        for name in extra:
            if name not in names:
                names.append(name)
    return names


class RunProgress:
    """Tasks finished out of the tasks in the run, and an estimate of the time left.

    The total counts sub-tasks a delayed creator (`@create_after`) has not made
    yet from the previous run's names (`expect`), so it does not jump when
    they appear; once the creator ran, `widen` confirms the real ones and
    `settle` drops expected names it did not make.

    The estimate is the earlier durations of the unfinished tasks, scaled by
    how this run's finished tasks compare with their own earlier durations,
    plus, for unfinished tasks never measured before, the mean of the tasks
    finished so far: it follows the run instead of repeating a figure made
    before most tasks were known.  Updated once per finished task in
    constant time: the reporter calls it for every task of builds with
    thousands of them.
    """

    def __init__(self, in_run: Iterable[str]) -> None:
        self.in_run: set[str] = set(in_run)
        self.done: set[str] = set()
        self.previous: Mapping[str, float] | None = None
        self._provisional: set[str] = set()  # expected from the previous run, not created yet
        self._work_left = 0.0   # sum of previous durations of unfinished tasks
        self._known_left = 0    # how many unfinished tasks have one
        self._measured_s = 0.0  # this run: wall time of the executed tasks finished
        self._measured = 0      # ... and how many
        self._then_s = 0.0      # finished tasks with an earlier duration: that duration
        self._now_s = 0.0       # ... and their wall time in this run

    def set_previous(self, previous: Mapping[str, float]) -> None:
        """Durations of the tasks the last time they ran (name -> seconds)."""
        self.previous = previous
        unfinished = [previous[n] for n in self.in_run - self.done if n in previous]
        self._work_left = sum(unfinished)
        self._known_left = len(unfinished)

    def expect(self, names: Iterable[str]) -> None:
        """Sub-tasks a delayed creator is expected to make (as in the previous run)."""
        for name in names:
            if name not in self.in_run:
                self.in_run.add(name)
                self._provisional.add(name)
                if name not in self.done:
                    self._count_unfinished(name, +1)

    def widen(self, names: Iterable[str]) -> None:
        """Tasks that joined the run (created while it ran)."""
        for name in names:
            self._provisional.discard(name)
            if name not in self.in_run:
                self.in_run.add(name)
                if name not in self.done:
                    self._count_unfinished(name, +1)

    def settle(self, prefixes: Iterable[str]) -> None:
        """Creators that ran: drop their expected sub-tasks they did not make."""
        prefixes = tuple(prefixes)
        for name in [n for n in self._provisional if n.startswith(prefixes)]:
            self.forget(name)

    def forget(self, name: str) -> None:
        """A name that turned out not to be a task of this run: out of the count."""
        self._provisional.discard(name)
        if name in self.in_run and name not in self.done:
            self._count_unfinished(name, -1)
        self.in_run.discard(name)

    def finish(self, name: str, wall_s: float | None = None) -> None:
        """`name` reached an outcome; `wall_s` when it executed (measured work)."""
        if name in self.done:
            return
        self.done.add(name)
        self._provisional.discard(name)
        if name in self.in_run:
            self._count_unfinished(name, -1)
        else:
            self.in_run.add(name)
        if wall_s is not None:
            self._measured_s += wall_s
            self._measured += 1
            if self.previous is not None and name in self.previous:
                self._then_s += self.previous[name]
                self._now_s += wall_s

    def left_s(self, workers: int) -> float | None:
        """Seconds left at this run's pace, over the workers.

        None when there is nothing to go on: no unfinished task has an earlier
        duration and no task of this run has been measured yet.
        """
        unknown = len(self.in_run) - len(self.done) - self._known_left
        mean = self._measured_s / self._measured if self._measured else None
        if not self._known_left and (mean is None or unknown <= 0):
            return None
        pace = self._now_s / self._then_s if self._then_s > 0 else 1.0
        work = max(0.0, self._work_left) * pace + max(0, unknown) * (mean or 0.0)
        return work / max(1, workers)

    @property
    def total(self) -> int:
        return len(self.in_run)

    def _count_unfinished(self, name: str, sign: int) -> None:
        if self.previous is not None and name in self.previous:
            self._work_left += sign * self.previous[name]
            self._known_left += sign


def progress_line(done: int, total: int, name: str, wall_s: float, left_s: float | None) -> str:
    """`[k/N] task took 0.21s, ~3.4s left` (the estimate only when there is one).

    "took": the figure is the task's own time, not the time since the run began.
    """
    line = f"[{done}/{max(total, done)}] {name} took {_seconds(wall_s)}"
    if left_s is not None:
        line += f", ~{_seconds(left_s)} left"
    return line


def final_line(done: int, total: int, elapsed_s: float) -> str:
    """`[k/N] run ended after 1.21s`, for when quick tasks hid the last progress lines."""
    return f"[{done}/{max(total, done)}] run ended after {_seconds(elapsed_s)}"


def _seconds(value: float) -> str:
    if value < 10:
        return f"{value:.2f}s"
    if value < 120:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes}m{seconds:02d}s"
