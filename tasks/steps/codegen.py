"""Task 8's doit actions, importable without jinja2 or yaml.

dodo.py imports the workflow on every `doit`, even one with nothing to do; these
module-level functions import the pipeline only when a sub-task really runs.
They take plain data, so doit can pickle the tasks for `-n` workers.
"""
from __future__ import annotations

from doit_conductor.glue.actions import user_action

@user_action
def build_batch(batch: str, settings: dict, only: list[str] | None, changed: list[str]):
    """Render, validate, check and write the files of a batch of patterns (or of
    the patterns in `only`).

    doit fills `changed` (the file dependencies that changed since the task last
    succeeded; it allows no default value).  The codegen settings are one of
    them and change only with the config: when doit lists them, the task ran
    for another reason than an edit of its patterns (it never ran, was
    forgotten, or the settings changed), and every pattern is rendered again
    rather than skipped by its recorded digest.

    The five phases are timed from here, before the toolkit is imported: a
    worker's first sub-task pays that import, and it belongs to the task."""
    from doit_conductor import layout
    from doit_conductor.profiling import phases
    phases.start(phases.PARSE)
    try:
        from doit_conductor.codegen import pipeline
        return pipeline.build_batch(batch, settings, only,
                                    rebuild=layout.CODEGEN_SETTINGS in (changed or ()))
    finally:
        phases.stop()


@user_action
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


def verify_batch_entry(files: dict, settings: dict, batch: str, record: str) -> None:
    """Refuse (`DamagedEntry`) an action-cache hit whose files are not what its
    batch record says, before anything is announced or written."""
    from doit_conductor.codegen import restore
    restore.verified_record(files, record)


# cached_execution calls a restore function's `verify` before it restores
restore_batch.verify = verify_batch_entry


class PatternBuilt:
    """`uptodate` check of `codegen:<pattern>`: the pattern's batch record says its
    files were made from the input digest its batch plan holds now, and each file
    is the one recorded (by its stat, or read when its stat cannot tell).  What a batch checks before skipping the
    pattern, so `doit codegen:<pattern>` right after `doit` finds it up to date."""

    def __init__(self, batch: str, pattern: str, settings: dict, outputs: list[str]):
        self.batch = batch
        self.pattern = pattern
        self.cache_dir = settings["cache_dir"]
        self.output_dir = settings["output_dir"]
        self.outputs = outputs

    def configure_task(self, task) -> None:
        """Nothing to configure.  doit asks every uptodate item whether it has
        this method; answering yes saves a raised and caught AttributeError
        per `codegen:<pattern>` task (10,000 of them at 10,000 patterns)."""

    def _record_path(self) -> str:
        import os
        from doit_conductor.codegen.manifest import RECORDS
        return os.path.join(self.cache_dir, RECORDS, f"{self.batch}.json")

    def snapshot_paths(self) -> list[str]:
        """What the check reads (for doit-conductor's fast no-op)."""
        from doit_conductor import layout
        return [layout.batch_plan_file(self.batch), self._record_path(), *self.outputs]

    def __call__(self, task, values: dict) -> bool:
        import os
        from doit_conductor import layout
        from doit_conductor.codegen import manifest
        from doit_conductor.state_files import StateError, read_state
        try:
            planned = read_state(layout.batch_plan_file(self.batch))["patterns"]
        except StateError:
            return False
        digest = next((p["digest"] for p in planned if p["name"] == self.pattern), None)
        record = manifest.load_record(self.cache_dir, self.batch, self.output_dir)
        known = record.patterns.get(self.pattern)
        if digest is None or known is None or known.digest != digest:
            return False
        for path, entry in known.files.items():
            try:
                info = os.lstat(path)
            except OSError:
                return False
            if not manifest.recorded_file_intact(record, path, entry, info):
                return False
        return True

    def __repr__(self) -> str:
        return f"PatternBuilt({self.batch!r}, {self.pattern!r})"
