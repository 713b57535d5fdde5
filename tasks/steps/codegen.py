"""Task 8's doit actions, importable without jinja2 or yaml.

dodo.py imports the workflow on every `doit`, even one with nothing to do; these
module-level functions import the pipeline only when a sub-task really runs.
They take plain data, so doit can pickle the tasks for `-n` workers.
"""
from __future__ import annotations


def build_batch(batch: str, settings: dict, only: list[str] | None = None):
    """Render, validate, check and write the files of a batch of patterns (or of
    the patterns in `only`).

    The five phases are timed from here, before the toolkit is imported: a
    worker's first sub-task pays that import, and it belongs to the task."""
    from doit_conductor.profiling import phases
    phases.start(phases.PARSE)
    try:
        from doit_conductor.codegen import pipeline
        return pipeline.build_batch(batch, settings, only)
    finally:
        phases.stop()


def finish_codegen(batch_names: list[str], patterns: int, settings: dict, changed: list[str]):
    """Merge compile.manifest, prune what no pattern produces any more.

    doit fills `changed` (the file dependencies that changed since the last run;
    it allows no default value) so only the changed batch records are merged."""
    from doit_conductor.profiling import phases
    phases.start(phases.WRITE)  # pruning and the manifest: all of it is writing
    try:
        from doit_conductor.codegen import finish
        return finish.finish_codegen(batch_names, patterns, settings, changed)
    finally:
        phases.stop()


def restore_batch(files: dict, settings: dict, batch: str, record: str) -> None:
    """Write one batch's files from an action-cache hit instead of rendering them."""
    from doit_conductor.codegen import restore
    return restore.restore_batch(files, settings, batch, record)
