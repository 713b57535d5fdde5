"""doit's `dumpdb`, working on the conductor backend.

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
from doit.cmd_dumpdb import DumpDB

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
