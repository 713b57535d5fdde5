"""Phase 2 and 3 actions before code generation: tasks 3 to 7.

Each reads the previous tasks' state files, calls the pure logic in
`doit_conductor.codegen`, and writes its own state file only when its content changed, so
an edit that changes nothing downstream stops here.

dodo.py imports this module on every `doit`, including a no-op one, so codegen
modules (and through them jinja2 and yaml) are imported inside the actions.
"""
from __future__ import annotations

import contextlib
import functools
import os
import stat
import sys
import time
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path

import xxhash

from doit_conductor import layout, safe_fs
from doit_conductor.glue.actions import user_action
from doit_conductor.codegen import outputs
from doit_conductor.codegen import manifest
from doit_conductor.config import config_from_json, config_to_json
from doit_conductor.errors import UserError
from doit_conductor.state_files import (
    StateError, decode_state, envelope_digest, read_state, write_state)
from doit_conductor.glue.checker import file_digest
from doit_conductor.incremental import racy, snapshot
from doit_conductor.state_entries import EntryDocument
from tasks.steps import artifacts


def _refuse_unlisted(env, name: str) -> None:
    """The loader's refusal of a template the listing did not find, if it has one
    (a symbolic link, or a linked directory on the way, is not listed)."""
    import jinja2
    try:
        env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        pass


def workflow_config():
    """The settings task 2 recorded."""
    return config_from_json(read_state(layout.CONFIG))


def template_files(templates_dir: str) -> list[str]:
    """Every template below `templates_dir`, sorted (a linked directory is not
    entered; a linked template is listed, and the template loader refuses it)."""
    try:
        return sorted(e.path for e in safe_fs.walk(templates_dir)
                      if e.name.endswith(".j2") and e.kind != safe_fs.DIRECTORY)
    except UserError:
        return []  # a `templates` link: task 4 refuses it by name


@user_action
def lint_templates() -> None:
    """Task 4: parse every template; record what each includes, imports or extends."""
    from doit_conductor.codegen.kinds import load_kinds
    from doit_conductor.codegen.templates import direct_references, environment, reference_closure
    config = workflow_config()
    safe_fs.stat_dir(config.templates_dir)  # a link there: refused by name
    env = environment(config.templates_dir, config.sandbox, None)
    names = [str(Path(p).relative_to(config.templates_dir)) for p in
             template_files(config.templates_dir)]
    direct = {name: direct_references(env, name) for name in names}
    for name, refs in direct.items():
        for ref in refs:
            if ref not in direct:
                _refuse_unlisted(env, ref)   # a link on its way is named as such
                raise UserError(f"references template '{ref}', which does not exist",
                                f"{config.templates_dir}/{name}")
    kinds = load_kinds(config.templates_dir)
    write_state(layout.TEMPLATES, {
        "kinds": kinds,
        "templates": {name: {"direct": list(refs), "closure": list(reference_closure(direct, name)),
                             "digest": file_digest(f"{config.templates_dir}/{name}")}
                      for name, refs in sorted(direct.items())},
    })


def outputs_untouched() -> bool:
    """uptodate check of task 5, on the no-op path: every file compile.manifest
    lists still holds the content recorded for it.  By content digest, not size
    and mtime: a same-size edit with its mtime put back must be seen too (xxh3
    reads and hashes the whole output/ of this repository in about 1 ms)."""
    memo = _memo()
    version = envelope_digest(layout.MANIFEST)
    with safe_fs.batch():
        if memo.vouches(version):
            return True
        try:
            listed = artifacts.recorded_manifest()
            if listed is None:
                return not manifest.has_records(layout.CACHE)
        except UserError:
            # a link or a file where .conductor/cache belongs: scan-output runs,
            # and fails naming it, as a task (not doit's walk) does
            return False
        return _all_recorded(listed, memo, version)


@dataclass
class _Memo:
    """What `outputs_untouched` read before: path -> [mtime_ns, ctime_ns, size,
    inode, device, checksum], and, when every file of one manifest version was
    found as recorded and is remembered, that version's envelope digest.  A file
    whose stat is as it was when read is not read again; while the manifest is
    that version, a check that finds every stat as remembered needs neither the
    manifest decoded nor any file read."""

    files: dict[str, list]
    manifest: str | None = None
    dirty: bool = False     # differs from what `layout.UNTOUCHED_MEMO` holds

    def vouches(self, manifest_digest: str | None) -> bool:
        if manifest_digest is None or manifest_digest != self.manifest:
            return False
        swept = snapshot.swept_stats()
        return all(_unmoved(path, known, swept) for path, known in self.files.items())


def _unmoved(path: str, known: list, swept: Mapping) -> bool:
    """Whether `path` has the stat the memo's `known` entry was read with."""
    mtime, ctime, size, inode, device, _ = known
    now = swept.get(path, snapshot.NOT_SWEPT)
    if now is snapshot.NOT_SWEPT:
        return [mtime, ctime, size, inode, device] == _lstat_key(path)
    return now == (mtime, ctime, size, inode, device)


# Per working directory.  doit asks twice in a run that executed something (its
# walk, then the fast no-op's re-check at the end); the first ask of a process
# starts from what the last run left in `layout.UNTOUCHED_MEMO`, and an ask that
# learned something writes it back, so an edit reads the files that changed,
# not the whole output tree.
_READ_BEFORE: dict[str, _Memo] = {}
MEMO_VERSION = 2


def _memo() -> _Memo:
    cwd = os.getcwd()
    if cwd not in _READ_BEFORE:
        _READ_BEFORE[cwd] = _load_memo()
    return _READ_BEFORE[cwd]


def _all_recorded(listed: dict[str, dict], memo: _Memo, version: str | None) -> bool:
    """Whether every file of `listed` (the manifest whose envelope digest was
    `version` just before it was read) holds its recorded content."""
    seen = memo.files
    fine = racy.fine_devices()
    swept = snapshot.swept_stats()
    remembered = 0      # files of `listed` found in `seen` afterwards
    for path, entry in listed.items():
        known = seen.get(path)
        if known is not None and _unmoved(path, known, swept):
            checksum = known[5]
        else:
            try:
                checksum = _read_checksum(path, memo, fine)
            except UserError:
                return False  # a link, directory or FIFO stands there: scan-output repairs it
        if checksum is None:
            continue  # missing files are codegen's to restore
        if checksum != entry["checksum"]:
            return False
        remembered += path in seen
    if remembered != len(seen):
        # files no longer listed are forgotten
        memo.files = {path: seen[path] for path in listed if path in seen}
        memo.dirty = True
    # vouched for only if `listed` is that version: unchanged since it was read
    whole = remembered == len(listed) and envelope_digest(layout.MANIFEST) == version
    vouched = version if whole else None
    if vouched != memo.manifest:
        memo.manifest, memo.dirty = vouched, True
    if memo.dirty:
        # `.conductor/cache` is not watched by the fast no-op: a write after its
        # sweep (the re-check at the end of a run) costs the next no-op nothing.
        _save_memo(memo)
    return True


def _load_memo() -> _Memo:
    """What the last run remembered (nothing when missing, damaged or of another version)."""
    try:
        document = decode_state(safe_fs.read_bytes(layout.UNTOUCHED_MEMO))
        if document.get("version") != MEMO_VERSION:
            return _Memo({})
        files, manifest_digest = document["files"], document["manifest"]
        if not (isinstance(files, dict) and all(
                isinstance(item, list) and len(item) == 6 for item in files.values())
                and (manifest_digest is None or isinstance(manifest_digest, str))):
            return _Memo({})
        return _Memo(files, manifest_digest)
    except (OSError, UserError, ValueError, UnicodeDecodeError, AttributeError, KeyError,
            TypeError):
        return _Memo({})


def _save_memo(memo: _Memo) -> None:
    """Best effort: without it the next ask reads every file, slower and never wrong."""
    with contextlib.suppress(OSError, UserError):
        write_state(layout.UNTOUCHED_MEMO, {"version": MEMO_VERSION, "manifest": memo.manifest,
                                            "files": memo.files})
        memo.dirty = False


def _lstat_key(path: str) -> list[int] | None:
    # At the end of a run the fast no-op's recording has just stat-ed every
    # file this check watches: that stat is the one the next no-op compares.
    # In doit's walk, the fast no-op's check at the start of the run has: no
    # task that runs before scan-output is judged writes output/ (codegen,
    # which does, waits for scan-output).  A hand edit made since is set aside
    # by the batch that would replace the file (pipeline._unless_hand_edited),
    # or seen by the next run's check.  (A path that became a link cannot
    # keep the stat the memo holds: making a link to a file or moving it moves
    # its ctime.)
    swept = snapshot.judged_stat(path)
    if swept is snapshot.NOT_SWEPT:
        swept = snapshot.start_stat(path)
    if swept is not snapshot.NOT_SWEPT:
        return None if swept is None else list(swept)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino, info.st_dev]


def _read_checksum(path: str, memo: _Memo, fine: frozenset[int]) -> str | None:
    """The checksum of the regular file `path` (None if missing), remembered in
    the memo under the stat it was read with unless that stat is racy: a file
    changed within its timestamp granularity before the read could change again
    without its stat moving (ctime, which only the kernel sets, moves otherwise)."""
    started_ns = time.time_ns()
    try:
        fd = safe_fs.open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        if memo.files.pop(path, None) is not None:
            memo.dirty = True
        return None
    try:
        info = os.fstat(fd)
        checksum = outputs.content_checksum(safe_fs.read_fd(fd, path))
    finally:
        os.close(fd)
    key = [info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino, info.st_dev]
    if not snapshot.is_recent(key, started_ns, fine):
        memo.files[path] = [*key, checksum]
        memo.dirty = True
    elif memo.files.pop(path, None) is not None:
        memo.dirty = True
    return checksum


def _outputs_untouched_reads() -> list[str]:
    """What `outputs_untouched` reads, for doit-conductor's fast no-op (which may
    skip the check while none of these changed): the manifest, the scan's state,
    the batch records' directory and every file the manifest lists."""
    return [layout.MANIFEST, layout.SCAN, layout.RECORDS, *artifacts.manifest_files()]


outputs_untouched.snapshot_paths = _outputs_untouched_reads


@user_action
def scan_output() -> None:
    """Task 5: hash every generated file; set hand-edited ones aside (so codegen
    restores them), each under a name of its own that is never overwritten.

    Judged against the batch records, which are exact even after a
    crash; compile.manifest is only the fast index, rebuilt here when stale."""
    if Path(layout.MANIFEST).exists() and manifest.read_manifest(layout.CACHE) is None:
        sys.stderr.write(f"WARNING: {layout.MANIFEST}: unreadable; rebuilt from the "
                         "batch records\n")
    from doit_conductor.codegen import rollback
    edited = []
    output_dir = workflow_config().output_dir
    records = manifest.read_records(layout.CACHE, output_dir)
    merged = manifest.read_manifest(layout.CACHE)
    # A record restored from an older state would call every file a later
    # build wrote a hand edit; the merged manifest says which are ours.
    for path in rollback.repair_outdated(layout.CACHE, records, merged, output_dir):
        sys.stderr.write(f"WARNING: {path}: older than the generated files it lists "
                         f"(restored from a backup?); rewritten from {manifest.MANIFEST}\n")
    recorded = manifest.recorded_files(records)
    recorded.update(rollback.unrecorded(merged, recorded, output_dir))
    with safe_fs.batch():
        edited = _set_aside_edits(recorded)
    # files no record lists any more stay listed, for codegen's closing step to prune
    manifest.merge_manifest(layout.CACHE, records=records, keep_others=True)
    write_state(layout.SCAN, {"hand_edited": edited})


def _set_aside_edits(recorded: dict[str, manifest.FileEntry]) -> list[str]:
    """Set aside every recorded file whose content is not one its record knows
    (and clear what is not a file at all); the paths set aside."""
    edited = []
    for path, entry in sorted(recorded.items()):
        info = safe_fs.lstat(path)
        if info is None:
            continue  # missing: codegen writes it again
        if not stat.S_ISREG(info.st_mode):
            _clear_generated_path(path, info.st_mode)
            continue
        checksum = outputs.file_checksum(path)
        if checksum is None or entry.knows(checksum):
            continue
        aside = outputs.set_aside(path, layout.HAND_EDITS)
        edited.append(path)
        sys.stderr.write(outputs.HAND_EDITED.format(path, aside) + "\n")
    return edited


def _clear_generated_path(path: str, mode: int) -> None:
    """Something other than a file stands where codegen writes one: a link or a
    FIFO is removed as itself (never followed, never read); a directory may hold
    someone's files and is set aside like a hand edit.  Either way codegen then
    finds its target missing and writes the file again."""
    if stat.S_ISDIR(mode):
        aside = outputs.set_aside(path, layout.HAND_EDITS)
        sys.stderr.write(f"{path} was a directory, not the generated file: it is kept as "
                         f"{aside}; codegen writes the file again\n")
        return
    safe_fs.unlink(path)
    sys.stderr.write(f"{path} was {safe_fs.describe(mode)}, not the generated file: removed "
                     "it; codegen writes the file again\n")


@user_action
def resolve_patterns() -> None:
    """Task 6: dependency order of the patterns; unknown names and cycles are errors.

    Works on the graph task 3 writes beside the index (`pattern_index._graph_entry`)."""
    from doit_conductor.codegen.graph import resolve_order
    from doit_conductor.codegen.patterns import line_of
    graph = read_state(layout.GRAPH)
    sources = {name: p["source"] for name, p in graph.items()}
    order = resolve_order(
        {name: tuple(p["depends_on"]) for name, p in graph.items()}, sources,
        lambda name, dep: line_of(sources[name], lambda path, value: path[:1] == ("depends_on",)
                                  and value == dep))
    for pattern in graph.values():
        for target in pattern["refers_to"]:
            kind = graph[target]["kind"]
            if kind != "entity":
                raise UserError(
                    f"refers to '{target}', of kind '{kind}'; only entities can be referenced",
                    pattern["source"],
                    line_of(pattern["source"], lambda path, value: path[:1] == ("params",)
                            and path[-1] in ("references", "entity") and value == target))
    write_state(layout.ORDER, order)


@user_action
def plan_outputs() -> None:
    """Task 7: pattern x template -> output path, with collisions and escapes
    refused; then the plan of each codegen batch.

    O(changed): a pattern whose plan key (its source, the source's digest, its
    dependencies' sources) is the one recorded with the last plan, made in the
    same context (kinds, template closures, output directory, reserved paths,
    working directory), keeps its recorded entry; only its paths are claimed
    again, so collisions with a changed pattern are still refused."""
    from doit_conductor.codegen.patterns import line_of, pattern_from_json
    from doit_conductor.codegen.plan import plan_codegen, plan_entry_to_json
    from tasks.steps.pattern_index import read_index
    config = workflow_config()
    index = read_index()   # entries decoded as planned: an edit decodes a few
    templates = read_state(layout.TEMPLATES)
    if "index" in index.entries:  # task 15's docs/index.md would be both pages
        source = index.entry("index")["source"]
        raise UserError("a pattern cannot be named 'index': docs/index.md is the index of "
                        "the generated docs", source,
                        line_of(source, lambda path, _: path == ("name",)))
    patterns = _LazyPatterns(index, pattern_from_json)
    kinds_digest = index.rest["kinds_digest"]
    closures = {name: tuple(t["closure"]) for name, t in templates["templates"].items()}
    order = read_state(layout.ORDER)
    reserved = artifacts.reserved_outputs(config.output_dir)
    batch_index = read_batch_index()
    context = _plan_context(kinds_digest, templates, closures, config.output_dir, reserved)
    keys = _plan_keys(read_state(layout.GRAPH), index.rest["sources"])
    reused = _reusable_plan(batch_index.get("plan"), context, keys)
    planned = {name: (entry["source"], tuple(o["path"] for o in entry["outputs"]))
               for name, entry in reused.items()}
    fresh = {entry.name: plan_entry_to_json(entry) for entry in plan_codegen(
        patterns, order, templates["kinds"], closures, config.output_dir, reserved, planned,
        lambda source, template: line_of(source, lambda path, _: path == ("outputs", template)))}
    settings = {
        "templates_dir": config.templates_dir, "output_dir": config.output_dir,
        "cache_dir": layout.CACHE, "sandbox": config.sandbox,
        "line_length": config.line_length, "validators": config.validators,
        "checks": config.checks, "kinds_digest": kinds_digest,
        "template_cache": config.template_cache.enabled,
        "incremental": config.incremental,
        "state_version": layout.STATE_VERSION,
        "cache_max_entries": config.template_cache.max_entries,
        "cache_max_bytes": config.template_cache.max_bytes,
        "limits": config_to_json(config)["limits"],
    }
    entries = [reused[name] if name in reused else fresh[name] for name in order]
    write_state(layout.PLAN, entries)
    write_state(layout.CODEGEN_SETTINGS, settings)
    plan_section = {"context": context, "file": envelope_digest(layout.PLAN), "keys": keys}
    write_batch_plans(entries, index, templates["templates"], settings,
                      batch_index, plan_section, replanned=set(fresh))


# Bumped when what a plan entry is made of changes, so entries recorded by an
# older planner are not reused.
PLAN_REUSE_VERSION = 1


class _LazyPatterns(dict):
    """The index's patterns as `Pattern`s, each built when first asked for: an
    edit plans the changed patterns and reads the sources of their dependencies."""

    def __init__(self, index: EntryDocument, build) -> None:
        super().__init__()
        self._index, self._build = index, build

    def __missing__(self, name: str):
        pattern = self[name] = self._build(self._index.entry(name))
        return pattern


def _plan_context(kinds_digest: str, templates: dict, closures: dict, output_dir: str,
                  reserved: dict) -> str:
    """Everything besides the pattern itself that a plan entry depends on (the
    working directory: path lengths are checked as absolute paths)."""
    from doit_conductor.codegen import batches
    return batches.digest([PLAN_REUSE_VERSION, layout.STATE_VERSION, kinds_digest,
                           templates["kinds"], {k: list(v) for k, v in closures.items()},
                           output_dir, reserved, os.getcwd()])


def _plan_keys(graph: dict[str, dict], sources: dict[str, dict]) -> dict[str, str]:
    """By pattern name: what its plan entry is made of besides the context (the
    validated entry is a function of its source's bytes and the kinds), from
    the graph task 3 wrote with the index (source and dependencies of each
    pattern).  A pattern whose source digest is unknown gets no key and is
    always planned."""
    keys = {}
    for name, pattern in graph.items():
        known = sources.get(pattern["source"])
        if not known or not known.get("digest"):
            continue
        parts = [pattern["source"], known["digest"],
                 *(graph[d]["source"] if d in graph else "?" for d in pattern["depends_on"])]
        keys[name] = xxhash.xxh3_64_hexdigest("\0".join(parts).encode("utf-8", "surrogateescape"))
    return keys


def _reusable_plan(section: object, context: str, keys: dict[str, str]) -> dict[str, dict]:
    """The last plan's entries whose keys are unchanged, if that plan was made in
    `context` and plan.json still holds what was written with those keys."""
    if not isinstance(section, dict) or section.get("context") != context \
            or not isinstance(section.get("keys"), dict) \
            or section.get("file") is None or envelope_digest(layout.PLAN) != section["file"]:
        return {}
    try:
        previous = read_state(layout.PLAN)
    except StateError:
        return {}
    recorded = section["keys"]
    return {entry["name"]: entry for entry in previous
            if (key := keys.get(entry["name"])) is not None and recorded.get(entry["name"]) == key}


def write_batch_plans(entries: list[dict], index: EntryDocument, templates: dict, settings: dict,
                      previous: object = None, plan_section: dict | None = None,
                      replanned: Set[str] | None = None) -> None:
    """One state file per codegen batch holding everything its patterns' files
    are made from (plan entry, validated pattern and dependencies) and each
    pattern's input digest (`batches.input_digest`).  A batch sub-task depends
    on that one file: it changes exactly when one of its patterns' inputs does,
    and the sub-task reads no other state.

    O(changed): a pattern's digest is computed from digests task 3 and 4
    already hold (its source's, those of the patterns it depends on, the
    templates'), and only for the patterns whose inputs moved since the batch
    index (`layout.BATCH_INDEX`, the last `previous` document) recorded it
    (`replanned` names the entries planned afresh; None: all of them); the
    assignment to batches is the recorded one while the dependency graph is
    the same (`batch_assignment`); and a batch whose patterns' digests are the
    ones recorded, and whose file still holds what was written then, is
    neither encoded nor written again."""
    from doit_conductor.codegen import batches
    sources, kinds_digest = index.rest["sources"], index.rest["kinds_digest"]
    pattern = functools.cache(index.entry)   # decoded only for the batches written
    if not isinstance(previous, dict):
        previous = {}
    assignment, assignment_record = batch_assignment(
        {entry["name"]: entry["depends_on"] for entry in entries}, previous)
    by_name = {entry["name"]: entry for entry in entries}
    settings_digest = batches.digest(settings)
    template_digests = {name: t["digest"] for name, t in templates.items()}

    def source_digest(source: str) -> str:
        return sources[source]["digest"]   # task 3 records every source it indexed

    context = batches.digest([kinds_digest, settings_digest, template_digests])
    source_digests = {source: known["digest"] for source, known in sources.items()}
    kept, unmoved = _kept_digests(previous.get("digests"), context, source_digests)
    digests = {}
    for name, entry in by_name.items():
        known = kept.get(name)
        # A kept entry is the one the recorded digest was made from, and its
        # own source is unmoved (its plan key holds the source's digest).
        if known is not None and replanned is not None and name not in replanned \
                and all(s in unmoved for s in entry["dep_sources"]):
            digests[name] = known
        else:
            digests[name] = batches.pattern_digest(
                entry, source_digest(entry["source"]),
                [source_digest(s) for s in entry["dep_sources"]],
                template_digests, kinds_digest, settings_digest)
    recorded_batches = previous.get("batches")
    if not isinstance(recorded_batches, dict):
        recorded_batches = {}
    recorded = {}
    for batch, names in assignment.items():
        path = layout.batch_plan_file(batch)
        signature = batches.digest([[name, digests[name]] for name in names])
        known = recorded_batches.get(batch)
        if known is not None and known["signature"] == signature \
                and envelope_digest(path) == known["file"]:
            recorded[batch] = known
            continue
        items = []
        for name in names:
            entry = by_name[name]
            items.append({"name": name, "entry": entry, "pattern": pattern(name),
                          "dependencies": {d: pattern(d) for d in entry["depends_on"]},
                          "digest": digests[name]})
        write_state(path, {"batch": batch, "patterns": items})
        recorded[batch] = {"signature": signature, "file": envelope_digest(path)}
    document = {"batches": recorded, "assignment": assignment_record,
                "digests": {"context": context, "sources": source_digests,
                            "patterns": digests}}
    if plan_section is not None:
        document["plan"] = plan_section  # task 7's plan keys: see `plan_outputs`
    write_state(layout.BATCH_INDEX, document)
    for stale in safe_fs.entries(layout.BATCH_PLANS):
        if stale.name.endswith(".json") and not stale.name.startswith(".") \
                and stale.name[:-5] not in assignment:
            safe_fs.remove(stale.path)


def _kept_digests(section: object, context: str, source_digests: dict[str, str]
                  ) -> tuple[dict[str, str], set[str]]:
    """(the recorded digest of each pattern, the sources whose digest is the
    one recorded with them), if recorded in `context` (kinds, settings, every
    template's digest); a pattern's recorded digest holds while its plan entry
    is the one kept from that plan and its sources are all unmoved."""
    if not isinstance(section, dict) or section.get("context") != context:
        return {}, set()
    recorded_sources, recorded = section.get("sources"), section.get("patterns")
    if not isinstance(recorded_sources, dict) or not isinstance(recorded, dict):
        return {}, set()
    unmoved = {source for source, known in recorded_sources.items()
               if source_digests.get(source) == known}
    return {name: known for name, known in recorded.items() if isinstance(known, str)}, unmoved


# Bumped when `batches.assign` would group a graph differently, so an
# assignment recorded by an older one is made again (any recorded one is a
# valid grouping of its graph; this keeps it the grouping of this version).
ASSIGNMENT_VERSION = 1


def batch_assignment(depends_on: dict[str, list[str]], batch_index: object
                     ) -> tuple[dict[str, list[str]], dict]:
    """(batch -> its patterns, the record kept in the batch index): the batch
    index's assignment when made for this dependency graph, else
    `batches.assign`'s.  Grouping 10,000 patterns by level costs ~50 ms; the
    graph's digest ~10 ms, and an edit rarely moves the graph."""
    from doit_conductor.codegen import batches
    key = batches.digest([ASSIGNMENT_VERSION, batches.BUCKETS, depends_on])
    known = batch_index.get("assignment") if isinstance(batch_index, dict) else None
    if isinstance(known, dict) and known.get("key") == key \
            and isinstance(known.get("batches"), dict):
        return known["batches"], known
    assignment = batches.assign(depends_on)
    return assignment, {"key": key, "batches": assignment}


def read_batch_index() -> dict:
    """The batch index task 7 wrote last time ({} when missing or damaged)."""
    try:
        document = read_state(layout.BATCH_INDEX)
    except StateError:
        return {}
    return document if isinstance(document, dict) else {}
