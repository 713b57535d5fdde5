"""Pure parts of the reporter: which tasks a run covers, progress and time left."""
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
        for dep in dependencies(task):
            if dep in tasks and dep not in seen:
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


def estimate_left(remaining: Iterable[str], previous: Mapping[str, float],
                  workers: int) -> float | None:
    """Seconds left if the remaining tasks take what they took before, spread over the workers.

    None when no remaining task has a previous duration (nothing to go on).
    """
    known = [previous[name] for name in remaining if name in previous]
    if not known:
        return None
    return sum(known) / max(1, workers)


def progress_line(done: int, total: int, name: str, wall_s: float, left_s: float | None) -> str:
    """`[k/N] task 0.21s, ~3.4s left` (the estimate only when there is one)."""
    line = f"[{done}/{max(total, done)}] {name} {_seconds(wall_s)}"
    if left_s is not None:
        line += f", ~{_seconds(left_s)} left"
    return line


def _seconds(value: float) -> str:
    if value < 10:
        return f"{value:.2f}s"
    if value < 120:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes}m{seconds:02d}s"
