"""Everything that talks to doit, and the only package that imports it.

The plugin's entry points (`plugins`, the commands), the runners and the
reporter, the dependency backend and checker, the fast no-op and the Dask
dispatch loop live here, with every private doit name behind `compat`.  The
packages below (codegen, profiling, report, scale, incremental) never import
this one: they return data or raise, and the glue decides what reaches doit
and the console.  `tests/test_layers.py` holds these rules.
"""
