"""doit's `dumpdb` and `forget`, working on the conductor backend.

Installed through the `doit.COMMAND` entry point, these replace doit's
commands of the same name in every project where doit-conductor is installed,
so each behaves exactly as doit's except where doit's cannot work:

* `dumpdb` opens the DB file with `dbm.open` whatever the project's backend,
  which fails with a traceback on the conductor backend's file (not a dbm).
  With `backend = "conductor"` it prints that DB instead, in doit's format
  (`task -> {dependency: value}`).
* `forget` without task names forgets "the default tasks"; with no
  `default_tasks` in DOIT_CONFIG doit then fails with a TypeError.  Doit's
  default tasks are then all tasks (what `doit` runs), so it forgets all, as
  `forget --all` does.
"""
from __future__ import annotations

import os
import pprint
import sys

from doit.cmd_base import opt_backend
from doit.cmd_dumpdb import DumpDB
from doit.cmd_forget import Forget

CONDUCTOR = "conductor"


class ConductorDumpDB(DumpDB):
    """doit's `dumpdb`, which also reads the conductor backend's DB."""

    name = "dumpdb"
    cmd_options = (*DumpDB.cmd_options, opt_backend)

    def execute(self, opt_values, pos_args):
        if opt_values.get("backend") != CONDUCTOR:
            return super().execute(opt_values, pos_args)
        from doit_conductor.incremental.backend import ConductorDB
        dep_file = opt_values["dep_file"]
        if not os.path.exists(dep_file):
            sys.stderr.write(f"ERROR: {dep_file}: no dependency DB yet (no run has saved one)\n")
            return 3
        db = ConductorDB(dep_file)
        print(f"DB type is 'conductor' ({dep_file})")
        for task, values in db.items():
            print(f"{task} -> {pprint.pformat(values, indent=4, width=100)}")
        return 0


class DefaultForget(Forget):
    """doit's `forget`; without task names and without DOIT_CONFIG default_tasks, all tasks."""

    name = "forget"

    def _execute(self, forget_sub, forget_disable_default, forget_all):
        if self.sel_tasks is None and not forget_disable_default:
            forget_all = True  # doit's default tasks are then every task
        return super()._execute(forget_sub, forget_disable_default, forget_all)
