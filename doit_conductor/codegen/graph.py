"""The pattern dependency graph: a stable order, or the cycle that prevents one."""
from __future__ import annotations

from doit_conductor.errors import UserError


def resolve_order(depends_on: dict[str, tuple[str, ...]], sources: dict[str, str]) -> list[str]:
    """Patterns in dependency order (ties broken by name).

    Raises UserError for a dependency on an unknown pattern or for a cycle, naming
    the pattern file and the whole cycle.
    """
    for name in sorted(depends_on):
        for dep in depends_on[name]:
            if dep not in depends_on:
                raise UserError(f"depends_on names unknown pattern '{dep}'", sources[name])
    order: list[str] = []
    state: dict[str, int] = {}          # 1 = on the current path, 2 = done
    for root in sorted(depends_on):
        if state.get(root) == 2:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            name, index = stack.pop()
            if index == 0:
                state[name] = 1
                path.append(name)
            deps = sorted(depends_on[name])
            if index < len(deps):
                stack.append((name, index + 1))
                dep = deps[index]
                if state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep]
                    raise UserError(f"depends_on cycle: {' -> '.join(cycle)}", sources[dep])
                if state.get(dep) != 2:
                    stack.append((dep, 0))
                continue
            state[name] = 2
            path.pop()
            order.append(name)
    return order
