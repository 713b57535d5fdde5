"""doit's DB commands in a doit-conductor project: `dumpdb` reads the conductor
backend; `clean`, `forget`, `ignore` and `reset-dep` hold the run lock.

Installed through the `doit.COMMAND` entry point, this replaces doit's command
of the same name in every project where doit-conductor is installed, so it
behaves exactly as doit's except where doit's cannot work: doit's `dumpdb`
opens the DB file with `dbm.open` whatever the project's backend, which fails
with a traceback on the conductor backend's file (not a dbm).  With
`backend = "conductor"` it prints that DB instead, in doit's format
(`task -> {dependency: value}`).

`doit forget` without task names crashes inside doit 0.37 when DOIT_CONFIG has
no `default_tasks`; this repository sets `forget_disable_default` instead of
replacing doit's command (docs/reliability.md lists it as upstream).
"""
from __future__ import annotations

import os
import pprint
import sys

from doit.cmd_base import opt_backend
from doit.cmd_clean import Clean
from doit.cmd_dumpdb import DumpDB
from doit.cmd_forget import Forget
from doit.cmd_ignore import Ignore
from doit.cmd_resetdep import ResetDep

from doit_conductor.glue.state_lock import StateLocked, conductor_backend

CONDUCTOR = "conductor"


class ConductorDumpDB(DumpDB):
    """doit's `dumpdb`, which also reads the conductor backend's DB."""

    name = "dumpdb"
    cmd_options = (*DumpDB.cmd_options, opt_backend)

    def execute(self, opt_values, pos_args):
        if opt_values.get("backend") != CONDUCTOR:
            return super().execute(opt_values, pos_args)
        from doit_conductor.glue.backend import ConductorDB
        dep_file = opt_values["dep_file"]
        if not os.path.exists(dep_file):
            sys.stderr.write(f"ERROR: {dep_file}: no dependency DB yet (no run has saved one)\n")
            return 3
        db = ConductorDB(dep_file)
        print(f"DB type is 'conductor' ({dep_file})")
        for task, values in db.items():
            print(f"{task} -> {pprint.pformat(values, indent=4, width=100)}")
        return 0


# Each is doit's command exactly, plus the run lock in a conductor project
# (state_lock.py): a `clean` or `forget` must not interleave with a run.

class LockedClean(StateLocked, Clean):
    """doit's `clean`, under the run lock; in a conductor project it refuses
    to start when the output tree or the state directory is a symbolic link
    (each task's clean action would refuse in turn, doit would go on with the
    others and exit 0, having removed the state)."""

    name = "clean"

    def get_checker_cls(self, check_file_uptodate):
        checker = super().get_checker_cls(check_file_uptodate)   # the lock first
        if conductor_backend(self._params):
            refuse_linked_trees(self._params)
        return checker


def refuse_linked_trees(params) -> None:
    """A UserError naming the output tree or state directory if it is a link."""
    from doit_conductor.config import project_config
    from doit_conductor.fsio import check_real_directory
    from doit_conductor.layout import backend_dir
    for tree in (project_config(".").output_dir, backend_dir(params["dep_file"])):
        check_real_directory(tree)


class LockedForget(StateLocked, Forget):
    """doit's `forget`, under the run lock."""

    name = "forget"


class LockedIgnore(StateLocked, Ignore):
    """doit's `ignore`, under the run lock."""

    name = "ignore"


class LockedResetDep(StateLocked, ResetDep):
    """doit's `reset-dep`, under the run lock."""

    name = "reset-dep"
