"""The run lock for every doit command that writes a doit-conductor project's state.

`run`, `clean`, `forget`, `ignore` and `reset-dep` change the dependency DB or
the files it describes, so in a project with `backend = "conductor"` each holds
`.conductor/lock` from before the DB opens until after it is saved; `list`,
`info` and the like only read and never wait for a run.  The commands are
doit's own, subclassed (`db_commands.py`, `run_command.py`): the lock is taken
where doit asks the command for its checker class, which `DoitCmdBase.execute`
does once the project directory and configuration are known and just before it
opens the DB (`compat.DOIT_CMD_EXECUTE_SHA256` holds that order).
"""
from __future__ import annotations

import contextlib
import os
import sys

from doit_conductor.errors import UserError

CONDUCTOR = "conductor"
LOCK_ERROR_EXIT = 3


def conductor_backend(params) -> bool:
    return (params or {}).get("backend") == CONDUCTOR


def project_lock(params) -> contextlib.AbstractContextManager:
    """`.conductor/lock` for a conductor project (`layout.backend_dir`), else nothing."""
    if not conductor_backend(params):
        return contextlib.nullcontext()
    from doit_conductor import upstream
    upstream.require_module("fcntl", 'the run lock of backend = "conductor"')
    from doit_conductor.fsio import check_real_directory
    from doit_conductor.incremental import lock
    from doit_conductor.layout import backend_dir
    state_dir = backend_dir(params["dep_file"])
    check_real_directory(state_dir)
    return lock.run_lock(os.getcwd(), state_dir, announce=sys.stderr.write)


class StateLocked:
    """Mixin for a doit command (put first in the bases): hold the project's run
    lock while the command opens, changes and saves the dependency DB.  A lock
    that cannot be had, or any other `UserError`, is one line and exit 3."""

    def execute(self, params, args):
        try:
            with contextlib.ExitStack() as self._held:
                self._params = params
                return super().execute(params, args)
        except UserError as err:
            sys.stderr.write(f"ERROR: {err}\n")
            return LOCK_ERROR_EXIT

    def get_checker_cls(self, check_file_uptodate):
        self._held.enter_context(project_lock(self._params))
        return super().get_checker_cls(check_file_uptodate)
