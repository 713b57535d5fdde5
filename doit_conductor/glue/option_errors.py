"""A bad option given to one of our own doit commands, as one line in our words.

doit's parser reports an unknown option with the repr of every option the
command has (1,500 characters for `profile-report`) and a value of the wrong
type on two lines.  `OneLineOptionErrors` (mixed into `profile-report` and
`cache-gc`) says which option and what is wrong, and where the options are
listed.  doit's own commands, `run` included, keep doit's messages.
"""
from __future__ import annotations

import getopt
import sys

from doit.cmdparse import CmdParseError

_TYPE_WORDS = {int: "a whole number", float: "a number", str: "a value"}
EXIT_OPTION_ERROR = 3   # what doit exits with for an option it cannot parse


class OneLineOptionErrors:
    """For a doit `Command` subclass: option errors in one line on stderr, exit 3
    (doit's code for them), begun as the command's other errors are."""

    error_prefix = "ERROR: "

    def parse_execute(self, in_args):
        try:
            return super().parse_execute(in_args)
        except CmdParseError as error:
            line = option_error(self.name, self.cmd_options, list(in_args), error)
            if line is None:
                raise
            sys.stderr.write(f"{self.error_prefix}{line}\n")
            return EXIT_OPTION_ERROR


def option_error(command: str, options: tuple[dict, ...], args: list[str],
                 error: CmdParseError) -> str | None:
    """The line for `error`, raised parsing `args` against `options`; None for
    doit's own one-line messages (a value not among an option's choices)."""
    listed = f"(`doit help {command}` lists them)"
    cause = error.__context__
    if isinstance(cause, getopt.GetoptError) and cause.opt:
        flag = ("-" if len(cause.opt) == 1 else "--") + cause.opt
        option = next((o for o in options if cause.opt in (o.get("long"), o.get("short"))), None)
        if option is None:
            return f"{command}: unknown option {flag} {listed}"
        if option.get("type") is bool:
            return f"{command}: option {flag} takes no value"
        return f"{command}: option {flag} needs a value"
    if not isinstance(cause, ValueError):
        return None
    from doit_conductor.glue import compat   # doit's wording: on this error path only
    name = compat.option_not_converted(error)
    option = next((o for o in options if o["name"] == name), None)
    if option is None or "long" not in option:
        return f"{command}: {str(error).strip().splitlines()[0]}"
    flag = f"--{option['long']}"
    what = _TYPE_WORDS.get(option.get("type"), "another value")
    given = _value_of(flag, args)
    return f"{command}: option {flag} takes {what}" + (f", not {given!r}" if given else "")


def _value_of(flag: str, args: list[str]) -> str | None:
    """The value given to `flag` in `args` (`--flag=V` or `--flag V`), if any."""
    for index, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1:]
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
    return None
