"""Profiling: probe (in-worker measurement) -> run records -> store; doit run command and reporter glue."""
