"""Task 8's action: build the files of a batch of patterns.

`build_batch` is the action of each `codegen:_batch-<level>-<bucket>` sub-task
(see `batches`) and, restricted to one pattern, of `codegen:<pattern>`.  Each
pattern's inputs come from its batch's plan file (task 7), so a batch reads no
other state.  For each pattern that changed it renders every output in memory,
validates and checks the ones whose content changed, and only when all passed
stages them; then the batch writes what was staged (atomically, unchanged files
untouched) and records it in its batch record.  A pattern that fails leaves its
files on disk as they were.

A plain module-level function taking plain data, so doit can pickle the tasks
for `-n` workers (and remote executors).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from doit_conductor import interrupts, layout, safe_fs
from doit_conductor.codegen import checks, outputs, render, validate
from doit_conductor.codegen import manifest
from doit_conductor.codegen.patterns import Pattern, pattern_from_json
from doit_conductor.codegen.plan import plan_entry_from_json
from doit_conductor.codegen.settings import Settings
from doit_conductor.config import RenderLimits
from doit_conductor.codegen.templates import environment
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write, holds
from doit_conductor.profiling import counters, phases
from doit_conductor.profiling.phases import COMPILE, GENERATE, QUALITY, WRITE
from doit_conductor.state_files import envelope_digest, read_state

log = logging.getLogger(__name__)   # routed to the console by the glue


def build_batch(batch: str, settings: dict, only: list[str] | None = None,
                rebuild: bool = False) -> None:
    """Render, validate, check and write the files of a batch's patterns (of the
    patterns in `only`, when given: `codegen:<pattern>`).

    A pattern whose input digest is the one its files were recorded with, and
    whose files are still as recorded (by their stat), is skipped unless
    `rebuild` (then every pattern is rendered; unchanged files are still neither
    compiled nor written).  On failure, and for `only`,
    what was built is recorded and the manifest merged (before the failure is
    reported), since codegen:_manifest will not run: it stays accurate after a
    failed or a one-pattern run."""
    cfg = Settings(**settings)
    try:
        _build_batch(batch, cfg, only, rebuild)
    except UserError:
        manifest.merge_manifest(cfg.cache_dir, [batch], keep_others=True)
        raise
    if only is not None:
        # `codegen:<pattern>` has no closing step either: the manifest follows
        # the files it wrote, or task 5 finds it stale on the next run
        manifest.merge_manifest(cfg.cache_dir, [batch], keep_others=True)


def _build_batch(batch: str, cfg: Settings, only: list[str] | None, rebuild: bool) -> None:
    plan_file = layout.batch_plan_file(batch)
    planned = read_batch_plan(plan_file)
    # The batch's plan file doubles as the lock of its record: a one-pattern run
    # (`codegen:<pattern>`) and the batch may both run in one `doit -n`.
    with manifest.locked(plan_file):
        record = manifest.load_record(cfg.cache_dir, batch, cfg.output_dir)
        tree = outputs.output_tree(cfg.output_dir)
        kept: dict[str, manifest.PatternFiles] = {}
        staged: list[tuple[str, str, list[_Staged]]] = []
        failure = None
        passed = cfg.checks_digest   # what a file that passed its checks passed
        for item in planned:
            name = item["name"]
            known = record.patterns.get(name)
            if failure is not None or (only is not None and name not in only):
                if known is not None:
                    kept[name] = known
                continue
            if cfg.incremental and not rebuild and known is not None \
                    and known.digest == item["digest"] \
                    and _intact(known, record, tree):
                kept[name] = known
                counters.add("patterns_skipped")
                continue
            try:
                staged.append((name, item["digest"], _stage_pattern(item, known, record, cfg,
                                                                    passed)))
            except UserError as exc:
                failure = exc
                if known is not None:
                    kept[name] = known
        complete = failure is None and only is None
        if not complete:  # patterns that left the batch stay until the closing step
            for name, known in record.patterns.items():
                kept.setdefault(name, known)
        _write_batch(batch, cfg, record, kept, staged, tree, passed)
    if failure is not None:
        raise failure


def read_batch_plan(path: str) -> list[dict]:
    """The patterns of one batch as task 7 planned them (see `batch_plan`)."""
    return read_state(path)["patterns"]


def _intact(known: manifest.PatternFiles, record: manifest.BatchRecord,
            tree: outputs.OutputTree) -> bool:
    """Every file of the pattern is the one the record describes (by its stat, or
    read when its stat cannot tell)."""
    for path, entry in known.files.items():
        if not manifest.recorded_file_intact(record, path, entry, tree.inspect(path)):
            return False
    return True


def _stage_pattern(item: dict, known: manifest.PatternFiles | None,
                   record: manifest.BatchRecord, cfg: Settings, passed: str) -> list[_Staged]:
    """Render and check one pattern's files, writing nothing (`passed`: the
    settings' `checks_digest`); its phases are recorded under its name too
    (`phases.pattern_counter`)."""
    mark = phases.lap()
    try:
        return _stage(plan_entry_from_json(item["entry"]), pattern_from_json(item["pattern"]),
                      {d: pattern_from_json(p) for d, p in item["dependencies"].items()},
                      known.files if known is not None else {}, record, cfg,
                      recheck=known is None or known.checks != passed)
    finally:
        phases.record_pattern(item["name"], mark)


def _stage(plan, pattern: Pattern, deps: dict[str, Pattern], previous: dict,
           record: manifest.BatchRecord, cfg: Settings, recheck: bool) -> list[_Staged]:
    """The pattern's outputs rendered and checked, nothing written; a file whose
    bytes are the recorded ones is not compiled or written again, only checked
    again when `recheck` (the check settings moved since its files passed)."""
    env = environment(cfg.templates_dir, cfg.sandbox,
                      str(Path(cfg.cache_dir) / "templates") if cfg.template_cache else None)
    context = render.render_context(pattern, deps)
    limits = RenderLimits(**cfg.limits)
    tree = outputs.output_tree(cfg.output_dir)
    total = 0
    # Everything is rendered and validated before anything is written.
    # Lines on stdout are shown by doit at `-v 2` only (it captures them below).
    # The outputs that configured external commands check go first, and those
    # commands run while the rest are rendered and checked here: an external
    # compiler's wait (a second per file for tsc) overlaps this process's work.
    staged: dict[str, _Staged] = {}
    with _ExternalChecks() as external:
        for output in sorted(plan.outputs, key=lambda o: not _has_commands(o.path, cfg)):
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
            if cfg.incremental and known and known.checksum == checksum and info is not None \
                    and (record.vouches_for(known, info) or holds(output.path, data, info.st_size)):
                if recheck:   # same bytes, other checks: they must pass these too
                    known = dataclasses.replace(
                        known, validator=_compile_and_check(output.path, text, cfg, external))
                    phases.enter(WRITE)
                counters.add("files_skipped")
                log.info("[unchanged] %s", output.path)
                staged[output.path] = _Staged(output.path, data, known, info, unchanged=True)
                continue
            validator = _compile_and_check(output.path, text, cfg, external)
            phases.enter(WRITE)
            counters.add("files_compiled")
            log.info("[compile] %s", output.path)
            staged[output.path] = _Staged(output.path, data, manifest.FileEntry(
                checksum=checksum, size=len(data), mtime_ns=0, last_compiled=round(time.time(), 3),
                template=output.template, validator=validator), info, unchanged=False)
        external.wait_all()
    return [staged[output.path] for output in plan.outputs]


def _write_batch(batch: str, cfg: Settings, record: manifest.BatchRecord,
                 kept: dict[str, manifest.PatternFiles],
                 staged: list[tuple[str, str, list[_Staged]]], tree: outputs.OutputTree,
                 passed: str) -> None:
    """Write what was staged; the record before (only when a recorded file is
    replaced: with its old checksum as `previous`) and after.  Files a pattern no
    longer produces are left to the closing step, which prunes what no record
    names any more (a file may have moved to a pattern of another batch)."""
    phases.enter(WRITE)
    on_disk = record.data
    pending = dict(kept)
    replacing = False
    for name, _digest, files in staged:
        known = record.patterns.get(name)
        previous = known.files if known is not None else {}
        entries = {s.path: dataclasses.replace(s.entry, previous=_previous(previous, s.path, s.entry))
                   for s in files}
        replacing = replacing or any(e.previous is not None for e in entries.values())
        # the old digest: a crash before the second write leaves the pattern to rebuild
        pending[name] = manifest.PatternFiles(known.digest if known is not None else "",
                                             {**previous, **entries},
                                             known.checks if known is not None else "")
    if replacing:
        on_disk = manifest.write_record(cfg.cache_dir, batch, pending, on_disk)
    recorded = dict(kept)
    witness = _ManifestWitness(cfg)
    for name, digest, files in staged:
        mark = phases.lap()
        known = record.patterns.get(name)
        entries = {}
        for item in files:
            written = None if item.unchanged else tree.write(
                item.path, item.data,
                _unless_hand_edited(item, known.files.get(item.path) if known else None, record,
                                    witness))
            entries[item.path] = _with_mtime(item.entry, (written or item.info).st_mtime_ns)
        recorded[name] = manifest.PatternFiles(digest, entries, passed)
        phases.record_pattern(name, mark)
        counters.add("patterns_built")
    manifest.write_record(cfg.cache_dir, batch, recorded, on_disk)


# The merged manifest's entries as records', by its directory and version:
# a worker asked by many batches whose records are gone converts it once.
_MANIFEST_ENTRIES: dict[tuple[str, str | None], dict[str, manifest.FileEntry]] = {}


class _ManifestWitness:
    """What a file held by the merged manifest, read when first asked for (once
    per batch): a file whose record is gone (task 13 drops the record of a
    file it found differing from a clean render) is judged by it."""

    def __init__(self, cfg: Settings) -> None:
        self.cfg = cfg
        self.entries: dict[str, manifest.FileEntry] | None = None

    def entry(self, path: str) -> manifest.FileEntry | None:
        if self.entries is None:
            key = (os.path.abspath(self.cfg.cache_dir),
                   envelope_digest(os.path.join(self.cfg.cache_dir, manifest.MANIFEST)))
            if key not in _MANIFEST_ENTRIES:
                from doit_conductor.codegen import rollback
                _MANIFEST_ENTRIES.clear()
                _MANIFEST_ENTRIES[key] = rollback.unrecorded(
                    manifest.read_manifest(self.cfg.cache_dir), {}, self.cfg.output_dir)
            self.entries = _MANIFEST_ENTRIES[key]
        return self.entries.get(path)


def _unless_hand_edited(item: "_Staged", known: manifest.FileEntry | None,
                        record: manifest.BatchRecord,
                        witness: _ManifestWitness) -> os.stat_result | None:
    """The stat to write `item` over: its own, unless the file holds no content
    its record knows (a hand edit made after scan-output looked, while this run
    went on), which is set aside first, as scan-output does (None: nothing
    there any more).  A file the record does not list is judged by the merged
    manifest's entry; one neither lists is not ours to judge."""
    info = item.info
    if info is None or not stat.S_ISREG(info.st_mode):
        return info
    if known is None:
        known = witness.entry(item.path)
        if known is None:
            return info
    elif record.vouches_for(known, info):
        return info
    checksum = outputs.file_checksum(item.path)
    if checksum is None:
        return None
    if known.knows(checksum):
        return info
    aside = outputs.set_aside(item.path, layout.HAND_EDITS)
    log.warning(outputs.HAND_EDITED.format(item.path, aside))
    return None


@dataclass(frozen=True, slots=True)
class _Staged:
    """One rendered output waiting to be written."""

    path: str
    data: bytes
    entry: manifest.FileEntry
    info: os.stat_result | None   # the file's lstat before the write, None if absent
    unchanged: bool               # known to hold `data` already: nothing to write


def _compile_and_check(path: str, text: str, cfg: Settings, external: "_ExternalChecks") -> str:
    """Quality checks, then the type's compiler; configured external commands are
    started on scratch copies (nothing is written until every file passed) and
    waited for by `external`."""
    phases.enter(QUALITY)
    checks.check(path, text, cfg.line_length)
    phases.enter(COMPILE)
    validator = validate.validate_builtin(path, text)
    suffix = Path(path).suffix
    if validator is None and suffix in cfg.validators:
        validator = external.start(cfg.validators[suffix], path, text, "does not compile",
                                   COMPILE)
    if suffix in cfg.checks and external.start(cfg.checks[suffix], path, text,
                                               "quality check failed", QUALITY):
        counters.add("external_checks")
    return validator or "none"


def _has_commands(path: str, cfg: Settings) -> bool:
    suffix = Path(path).suffix
    return suffix in cfg.validators or suffix in cfg.checks


class _ExternalChecks:
    """The external commands checking one pattern's outputs: started as each
    output is checked, each on a scratch copy of its own, and waited for in the
    order started once every output is (`wait_all`).  A failure in this process
    stops them and is the one reported; otherwise the first command that failed
    is.  The scratch copies go when the block ends."""

    def __init__(self) -> None:
        self._scratch = contextlib.ExitStack()
        self._running: list[tuple[validate.Running, str]] = []   # with its phase

    def __enter__(self) -> "_ExternalChecks":
        return self

    def __exit__(self, *exc) -> None:
        try:
            for running, _phase in self._running:
                running.stop()
        finally:
            self._scratch.close()

    def start(self, command: str, path: str, text: str, failure: str,
              phase: str) -> str | None:
        """Start `command` on a copy of the output `path`, its wait to be charged
        to `phase`; its program, or None when that is not installed."""
        # scratch under .conductor/tmp, not $TMPDIR: a kill -9 leaves it where
        # the next run that takes the lock empties it
        safe_fs.make_dirs(layout.TMP)
        scratch = os.path.abspath(self._scratch.enter_context(
            tempfile.TemporaryDirectory(prefix="check-", dir=layout.TMP)))
        copy = os.path.join(scratch, os.path.basename(path))
        atomic_write(copy, text.encode())
        with interrupts.deferred():   # recorded before a Ctrl-C can strike
            running = validate.start_command(command, copy, failure, report_as=path)
            if running is not None:
                self._running.append((running, phase))
        return None if running is None else running.argv[0]

    def wait_all(self) -> None:
        while self._running:
            running, phase = self._running[0]   # stopped on the way out until waited for
            phases.enter(phase)
            running.wait()
            self._running.pop(0)


def _previous(previous: dict, path: str, entry: manifest.FileEntry) -> str | None:
    known = previous.get(path)
    return known.checksum if known and known.checksum != entry.checksum else None


def _with_mtime(entry: manifest.FileEntry, mtime_ns: int) -> manifest.FileEntry:
    if entry.mtime_ns == mtime_ns and entry.previous is None:
        return entry
    return dataclasses.replace(entry, mtime_ns=mtime_ns, previous=None)
