"""What the current `doit run` was asked to run, for task creators.

doit creates every task before it selects any.  A creator whose tasks only a
selection naming them can reach (the workflow's `codegen:<pattern>`, 10,000 of
them at 10,000 patterns: ~0.25 s of every run) may leave them out when the
command line cannot select them.  Outside a run (`doit list`, `forget`,
`info`, ...) and in the API's runs nothing is known, and every task is made.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

# the positional arguments of the running `doit run` (task names, targets,
# wildcards, task options); None when no such run is in progress
_requested: tuple[str, ...] | None = None


def may_select(basename: str) -> bool:
    """Whether the running command could select a sub-task of `basename` that
    no group lists: it is not a run, or it names a sub-task or a wildcard."""
    if _requested is None:
        return True
    return any(arg.startswith(f"{basename}:") or "*" in arg for arg in _requested)


@contextlib.contextmanager
def requesting(args: list[str]) -> Iterator[None]:
    global _requested
    previous, _requested = _requested, tuple(args)
    try:
        yield
    finally:
        _requested = previous
