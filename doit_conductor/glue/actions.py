"""The edge between task actions and doit: user errors become one-line failures."""
from __future__ import annotations

import errno
import functools
from typing import Callable

from doit.exceptions import TaskFailed

from doit_conductor.errors import UserError
from doit_conductor.glue.console import to_console


# errno values that say "the disk will not take this", whatever the code did
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS,
                                errno.EACCES, errno.EPERM})


def user_action(func: Callable) -> Callable:
    """Run a task action; a `UserError` fails the task with its one-line message.

    doit prints an exception raised by an action with its traceback; a returned
    `TaskFailed` is shown as its message alone.  Anything else (a bug) still
    raises and keeps its traceback.  The wrapper stays a module-level function of
    the same name, so actions remain picklable for `doit -n`.
    """
    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            with to_console():   # what the library logs is the task's output
                result = func(*args, **kwargs)
        except UserError as err:
            return TaskFailed(str(err))
        except OSError as err:
            if err.errno not in ENVIRONMENT_ERRNOS:
                raise
            # A full, read-only or forbidden disk is the machine's state, not a
            # bug: one line naming the file, like a user error.
            where = f"{err.filename}: " if err.filename else ""
            return TaskFailed(f"{where}cannot write: {err.strerror}")
        return result if isinstance(result, (dict, str, bool)) or result is None else None
    return run
