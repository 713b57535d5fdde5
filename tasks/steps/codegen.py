"""Task 8's doit actions, importable without jinja2 or yaml.

dodo.py imports the workflow on every `doit`, even one with nothing to do; these
module-level functions import the pipeline only when a sub-task really runs.
They take plain data, so doit can pickle the tasks for `-n` workers.
"""
from __future__ import annotations

from doit_conductor.glue.actions import user_action


@user_action
def build_pattern(entry: dict, settings: dict):
    """Render, validate, check and write the files of one pattern.

    The five phases are timed from here, before the toolkit is imported: a
    worker's first sub-task pays that import, and it belongs to the task."""
    from doit_conductor.profiling import phases
    phases.start(phases.PARSE)
    try:
        from doit_conductor.codegen import pipeline
        return pipeline.build_pattern(entry, settings)
    finally:
        phases.stop()


@user_action
def finish_codegen(pattern_names: list[str], settings: dict, changed: list[str]):
    """Prune the outputs of removed patterns, then merge compile.manifest.

    doit fills `changed` (the file dependencies that changed since the last run;
    it allows no default value) so only the changed fragments are merged."""
    from doit_conductor.profiling import phases
    phases.start(phases.WRITE)  # pruning and the manifest: all of it is writing
    try:
        from doit_conductor.codegen import finish
        return finish.finish_codegen(pattern_names, settings, changed)
    finally:
        phases.stop()


def restore_pattern(files: dict, settings: dict, name: str, fragment: str) -> None:
    """Write one pattern's files from an action-cache hit instead of rendering them."""
    from doit_conductor.codegen import restore
    return restore.restore_pattern(files, settings, name, fragment)


def verify_pattern_entry(files: dict, settings: dict, name: str, fragment: str) -> None:
    """Refuse (`DamagedEntry`) an action-cache hit whose files are not what its
    fragment records, before anything is announced or written."""
    from doit_conductor.codegen import restore
    restore.verified_fragment(files, fragment)


# cached_execution calls a restore function's `verify` before it restores
restore_pattern.verify = verify_pattern_entry
