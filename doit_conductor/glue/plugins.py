"""What doit's `REPORTER` and `BACKEND` entry points load: stand-ins, not the real classes.

doit imports every installed reporter and backend plugin on each `run`, only to
list them as choices of `--reporter` and `--backend`.  Pointing the entry points
at the real classes would import the profiling store, records, xxhash and the
dependency DB into every doit project of the environment, selected or not.
These stand-ins carry what doit reads from the class (`desc`, and `wants_probe`
for our run command) and build the real object, from its own module, only when
doit instantiates the selected one.
"""
from __future__ import annotations


class ConductorReporter:
    """`--reporter conductor`: see `doit_conductor.glue.reporter.ConductorReporter`."""

    desc = "console output plus per-task time and resources in .conductor/metrics"
    wants_probe = True  # the `run` command then measures each task where it runs

    def __new__(cls, outstream, options):
        from doit_conductor.glue.reporter import ConductorReporter as Reporter
        return Reporter(outstream, options)


class ConductorDB:
    """`--backend conductor`: see `doit_conductor.glue.backend.ConductorDB`."""

    desc = "single checksummed marshal file, atomic and crash-safe (doit-conductor)"

    def __new__(cls, name, codec, module_name=None):
        from doit_conductor.glue.backend import ConductorDB as Backend
        return Backend(name, codec=codec, module_name=module_name)
