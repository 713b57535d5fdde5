"""Type checks of the `run` command's doit options, where doit has none.

doit converts the values it parses from the command line, but takes those of
`[tool.doit]` in pyproject.toml and of `DOIT_CONFIG` in dodo.py as they come:
`reporter = 5` ends in an AttributeError traceback from doit's runner, and
`dep_file = 5` in a TypeError from the run lock.  The `run` command
(`doit_conductor.glue.run_command`) calls `check_run_params` once the
dodo's config is merged, so such a value is one line and exit 3 instead.
Pure: no doit, no I/O.
"""
from __future__ import annotations

from collections.abc import Mapping

from doit_conductor.errors import UserError

WHERE = "[tool.doit] in pyproject.toml or DOIT_CONFIG in dodo.py"
# option -> (what it must be, whether a class is accepted too, as doit allows)
_TEXT = {"dep_file": ("a file name", False), "backend": ("a backend name", False),
         "par_type": ("'process' or 'thread'", False),
         "reporter": ("a reporter name", True),
         "check_file_uptodate": ("a checker name", True)}


def check_run_params(params: Mapping[str, object]) -> None:
    """A UserError for the first option whose value has the wrong type."""
    for name, (expected, class_too) in _TEXT.items():
        value = params.get(name)
        if value is None or isinstance(value, str) or (class_too and isinstance(value, type)):
            continue
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        raise UserError(f"doit option {name!r} is {shown} ({type(value).__name__}): "
                        f"expected {expected} ({WHERE})")
