"""doit-conductor: doit plugins for profiled, incremental code generation.

Installed into a doit environment, this package provides (entry points in
pyproject.toml) the `run` command with per-task profiling, the `conductor`
reporter and backend, `profile-report` and `cache-gc`.  Packages:
`codegen` (Task 8's toolkit: patterns, templates, bytecode cache, render,
validate, outputs), `profiling` (probe -> records -> store, the reporter and
run command), `report` (pure analysis, renderers, the profile-report command),
`incremental` (content-hash checker, dependency DB backend, run lock).
"""
