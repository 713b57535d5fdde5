"""The pattern dependency graph: a stable order, or the cycle that prevents one."""
from __future__ import annotations

from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter

from doit_conductor.errors import UserError


def resolve_order(depends_on: dict[str, tuple[str, ...]], sources: dict[str, str],
                  line_of: Callable[[str, str], int | None] = lambda name, dep: None
                  ) -> list[str]:
    """Patterns in dependency order (ties broken by name).

    Raises UserError for a dependency on an unknown pattern or for a cycle, naming
    the pattern file and the whole cycle (from its smallest name, `a -> b -> a`
    where a depends on b); `line_of(name, dep)` is the line where pattern `name`
    names `dep`, if known.
    """
    for name in sorted(depends_on):
        for dep in depends_on[name]:
            if dep not in depends_on:
                raise UserError(f"depends_on names unknown pattern '{dep}'", sources[name],
                                line_of(name, dep))
    try:
        TopologicalSorter({name: sorted(depends_on[name]) for name in sorted(depends_on)}).prepare()
    except CycleError as err:
        cycle = _from_smallest(list(reversed(err.args[1][1:])))
        raise UserError(f"depends_on cycle: {' -> '.join(cycle + cycle[:1])}",
                        sources[cycle[0]], line_of(cycle[0], (cycle + cycle[:1])[1])) from None
    return _depth_first(depends_on)


def _from_smallest(cycle: list[str]) -> list[str]:
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


def _depth_first(depends_on: dict[str, tuple[str, ...]]) -> list[str]:
    """Each pattern after its dependencies, visiting names in sorted order.

    This order (not graphlib's, which emits in waves) is what order.json and
    the generated schema.sql have always used, so it stays; the graph is known
    to be acyclic here, which keeps the walk this short.
    """
    order: list[str] = []
    done: set[str] = set()
    for root in sorted(depends_on):
        if root in done:
            continue
        stack = [(root, iter(sorted(depends_on[root])))]
        while stack:
            name, deps = stack[-1]
            dep = next((d for d in deps if d not in done), None)
            if dep is None:
                stack.pop()
                done.add(name)
                order.append(name)
            else:
                stack.append((dep, iter(sorted(depends_on[dep]))))
    return order
