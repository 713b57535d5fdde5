"""What doit's `REPORTER` and `BACKEND` entry points load: stand-ins, not the real classes.

doit imports every installed reporter and backend plugin on each `run`, only to
list them as choices of `--reporter` and `--backend`.  Pointing the entry points
at the real classes would import the profiling store, records, xxhash and the
dependency DB into every doit project of the environment, selected or not.
These stand-ins carry what doit reads from the class (`desc`, and `wants_probe`
for our run command) and build the real object, from its own module, only when
doit instantiates the selected one.

Finding the plugins is itself a cost: `one_entry_point_scan`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from doit import plugin


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


# doit's `PluginDict._from_entry_points` calls the module global
# `doit.plugin.entry_points` once per plugin kind (`compat.SOURCE_SHA256` checks
# both functions), and importlib reads every installed distribution's entry
# points for each call: several ms in a virtualenv of 100 packages.  Creating
# `doit run` looks up two kinds, backends and then reporters.
@contextlib.contextmanager
def one_entry_point_scan() -> Iterator[None]:
    """While the block runs, doit's plugin lookups share one reading of the
    installed entry points (the same entry points, in the same order)."""
    original = plugin.entry_points
    scanned = None

    def entry_points(*, group: str):
        nonlocal scanned
        if scanned is None:
            scanned = original()
        return scanned.select(group=group)

    plugin.entry_points = entry_points
    try:
        yield
    finally:
        plugin.entry_points = original
