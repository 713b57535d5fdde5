"""Task 8's actions: build one pattern's files, and finish the codegen run.

`build_pattern` is the action of each `codegen:<pattern>` sub-task.  It renders
every output in memory, validates and checks the ones whose content changed,
and only when all passed writes them (atomically, unchanged files untouched),
prunes files the pattern no longer produces and records its manifest fragment.
A failure leaves every file on disk as it was.

Both are plain module-level functions taking plain data, so doit can pickle the
tasks for `-n` workers (and, later, remote executors).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from doit_conductor import layout, safe_fs
from doit_conductor.actions import user_action
from doit_conductor.codegen import checks, outputs, render, validate
from doit_conductor.codegen.patterns import Pattern, pattern_from_json
from doit_conductor.codegen.plan import plan_entry_from_json
from doit_conductor.codegen.settings import Settings
from doit_conductor.config import RenderLimits
from doit_conductor.codegen.templates import environment
from doit_conductor.errors import UserError
from doit_conductor.file_cache import FileVersionCache
from doit_conductor.fsio import atomic_write, holds
from doit_conductor.profiling import counters, phases
from doit_conductor.profiling.phases import COMPILE, GENERATE, QUALITY, WRITE
from doit_conductor.state_files import read_state


@user_action
def build_pattern(entry: dict, settings: dict) -> None:
    """Render, validate, check and write the files of one pattern.

    On failure the manifest is merged before the failure is reported, since
    codegen:_manifest will not run: it stays accurate after a failed run."""
    cfg = Settings(**settings)
    try:
        _build(plan_entry_from_json(entry), cfg)
    except UserError:
        outputs.merge_manifest(cfg.cache_dir)
        raise


def _build(plan, cfg: Settings) -> None:
    patterns = validated_patterns()
    pattern = _pattern(patterns, plan.name)
    deps = {d: _pattern(patterns, d) for d in plan.depends_on}
    env = environment(cfg.templates_dir, cfg.sandbox,
                      str(Path(cfg.cache_dir) / "templates") if cfg.template_cache else None)
    context = render.render_context(pattern, deps)
    limits = RenderLimits(**cfg.limits)
    total = 0
    fragment = outputs.load_fragment(cfg.cache_dir, plan.name, cfg.output_dir)
    previous = fragment.files
    tree = outputs.output_tree(cfg.output_dir)

    # Everything is rendered and validated before anything is written.
    # Lines on stdout are shown by doit at `-v 2` only (it captures them below).
    staged: list[_Staged] = []
    for output in plan.outputs:
        phases.enter(GENERATE)
        text = render.render(env, output.template, context, limits)
        data = text.encode()
        total += len(data)
        if len(data) > limits.max_file_bytes or total > limits.max_pattern_bytes:
            what = "file" if len(data) > limits.max_file_bytes else "pattern"
            limit = limits.max_file_bytes if what == "file" else limits.max_pattern_bytes
            raise UserError(f"rendering {plan.source} produces over {limit} bytes "
                            f"([tool.conductor.limits] max_{what}_bytes)",
                            f"{cfg.templates_dir}/{output.template}")
        phases.enter(WRITE)  # checksum and lstat: deciding whether to write at all
        checksum = outputs.content_checksum(data)
        counters.add("files_rendered")
        info = tree.inspect(output.path)  # refuses a symbolic-link escape before any write
        known = previous.get(output.path)
        if cfg.incremental and known and known.checksum == checksum and info is not None and (
                fragment.vouches_for(known, info) or holds(output.path, data, info.st_size)):
            counters.add("files_skipped")
            sys.stdout.write(f"[unchanged] {output.path}\n")
            staged.append(_Staged(output.path, data, known, info, unchanged=True))
            continue
        validator = _compile_and_check(output.path, text, cfg)
        phases.enter(WRITE)
        counters.add("files_compiled")
        sys.stdout.write(f"[compile] {output.path}\n")
        staged.append(_Staged(output.path, data, outputs.FileEntry(
            checksum=checksum, size=len(data), mtime_ns=0, last_compiled=round(time.time(), 3),
            template=output.template, validator=validator), info, unchanged=False))

    # Record the new checksums (keeping the old ones as `previous`) before writing,
    # so a crash mid-way leaves no file that the fragment does not account for.
    # Only needed when a recorded file changes: new files are not yet recorded.
    on_disk = fragment.data
    pending = {s.path: dataclasses.replace(s.entry, previous=_previous(previous, s.path, s.entry))
               for s in staged}
    if any(e.previous is not None for e in pending.values()):
        on_disk = outputs.write_fragment(cfg.cache_dir, plan.name, {**previous, **pending}, on_disk)
    recorded = {}
    for item in staged:
        written = None if item.unchanged else tree.write(item.path, item.data, item.info)
        recorded[item.path] = _with_mtime(item.entry, (written or item.info).st_mtime_ns)
    stale = sorted(set(previous) - set(recorded))
    removed = outputs.prune(stale, cfg.output_dir)
    for path in removed:
        sys.stderr.write(f"pruned {path} (no longer produced by {plan.source})\n")
        sys.stdout.write(f"[pruned] {path}\n")
    counters.add("files_pruned", len(removed))
    outputs.write_fragment(cfg.cache_dir, plan.name, recorded, on_disk)


@dataclass(frozen=True, slots=True)
class _Staged:
    """One rendered output waiting to be written."""

    path: str
    data: bytes
    entry: outputs.FileEntry
    info: os.stat_result | None   # the file's lstat before the write, None if absent
    unchanged: bool               # known to hold `data` already: nothing to write


def _read_index(path: str) -> dict[str, dict]:
    index = read_state(path)
    if not isinstance(index, dict) or not isinstance(index.get("patterns"), dict):
        safe_fs.unlink(path)
        raise UserError("workflow state was unreadable (no patterns) and is removed; "
                        "the next `doit` rebuilds it", path)
    return index["patterns"]


# Task 3's index, per worker process (see `validated_patterns`).
_INDEX = FileVersionCache(layout.PATTERNS, _read_index)


def validated_patterns() -> dict[str, dict]:
    """Task 3's index of validated patterns, read once per worker process (and
    again only if it changed): a sub-task neither re-parses YAML nor writes
    per-pattern cache files, which on a cold 1,000-pattern build cost 0.6 s of
    file creation in the serial phase."""
    return _INDEX.get()


def _pattern(patterns: dict[str, dict], name: str) -> Pattern:
    try:
        return pattern_from_json(patterns[name])
    except (KeyError, TypeError):
        raise UserError(f"pattern '{name}' is not in the validated index; run the whole "
                        "workflow with `doit`", layout.PATTERNS) from None


def _compile_and_check(path: str, text: str, cfg: Settings) -> str:
    """Quality checks, then the type's compiler; configured external commands run
    on a scratch copy, since nothing is written until every file passed."""
    phases.enter(QUALITY)
    checks.check(path, text, cfg.line_length)
    phases.enter(COMPILE)
    validator = validate.validate_builtin(path, text)
    suffix = Path(path).suffix
    commands = []
    if validator is None and suffix in cfg.validators:
        commands.append((cfg.validators[suffix], "does not compile"))
    if suffix in cfg.checks:
        commands.append((cfg.checks[suffix], "quality check failed"))
    if commands:
        # scratch under .conductor/tmp, not $TMPDIR: a kill -9 leaves it where
        # the next run that takes the lock empties it
        safe_fs.make_dirs(layout.TMP)
        with tempfile.TemporaryDirectory(prefix="check-", dir=layout.TMP) as scratch:
            scratch = os.path.abspath(scratch)
            copy = os.path.join(scratch, os.path.basename(path))
            atomic_write(copy, text.encode())
            for command, failure in commands:
                phases.enter(COMPILE if failure == "does not compile" else QUALITY)
                program = validate.run_command(command, copy, failure, report_as=path)
                if program and failure == "does not compile":
                    validator = program
                elif program:
                    counters.add("external_checks")
    return validator or "none"


def _previous(previous: dict, path: str, entry: outputs.FileEntry) -> str | None:
    known = previous.get(path)
    return known.checksum if known and known.checksum != entry.checksum else None


def _with_mtime(entry: outputs.FileEntry, mtime_ns: int) -> outputs.FileEntry:
    if entry.mtime_ns == mtime_ns and entry.previous is None:
        return entry
    return dataclasses.replace(entry, mtime_ns=mtime_ns, previous=None)
