"""doit-conductor: a profiled, incremental code-generation workflow on doit.

Packages: `workflow` (the 22-task DAG), `codegen` (Task 8), `steps` (the other
tasks' actions), `profiling` (measurement + run records), `report` (analysis and
renderers behind `doit profile-report`), `doitext` (checker, backend, lock).
"""
