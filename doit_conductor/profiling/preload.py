"""Modules imported in doit's process before it forks `-n N` workers.

A forked worker shares what its parent had imported (copy-on-write), so a
module every worker needs (for this workflow, the code generation toolkit and
Jinja2 with it, ~0.1 s of imports) is better imported once before the fork
than N times after it, by N workers competing for the cores: with 3 workers on
2 cores that is the difference between ~0.1 s and ~0.2-0.3 s before the first
task does its work.  The modules are named by `[tool.conductor]
worker_preload`; the process runner imports them only when it is about to
fork a worker for a task that runs (a run with nothing to do imports nothing).

An optimisation only: a module that fails to import is said in one line and
left for the task that needs it to fail on.
"""
from __future__ import annotations

import importlib
import os
from typing import TextIO


def configured(project_dir: str | None = None) -> tuple[str, ...]:
    """`[tool.conductor] worker_preload` of the project doit runs in (none when
    the config does not validate: task 2 reports that)."""
    from doit_conductor.config import project_config   # only when a worker is forked
    return project_config(project_dir or os.getcwd()).worker_preload


def preload(modules: tuple[str, ...], err: TextIO) -> list[str]:
    """Import `modules`; the ones that could not be imported, each said on `err`."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:   # noqa: BLE001 - any failure: the task will report it
            failed.append(name)
            err.write(
                f"WARNING: [tool.conductor] worker_preload: cannot import {name}: "
                f"{type(exc).__name__}: {exc}\n")
    return failed
