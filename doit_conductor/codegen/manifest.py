"""What codegen wrote: one record per batch, and the merged compile.manifest.

Each codegen batch (`doit_conductor.codegen.batches`) owns one record
(`.conductor/cache/batches/<batch>.json`) listing, per pattern, the input digest
its files were made from and the files, with their checksum, size, mtime and
when they were last compiled.  Workers never share a record (a one-pattern run,
`codegen:<pattern>`, updates its batch's record under a lock).  A record is
written before its files (with the checksums they had, as `previous`) and again
after, so whatever moment a crash hits, every file's content is one the record
knows: a generated file is never mistaken for a hand edit.  `compile.manifest`
is the merged view for people and tools, updated from the records that changed
at the end of every run that generated code (rebuilt from all of them when it is
missing, unreadable or the plan changed); the files it stops listing are the
ones no pattern produces any more, which the closing step prunes.  The files
themselves are written by `outputs.py`.
"""
from __future__ import annotations

import fcntl
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from doit_conductor import safe_fs
from doit_conductor.codec import from_json, to_json
from doit_conductor.codegen.outputs import file_checksum
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write, read_bytes
from doit_conductor.state_files import decode_state, encode_state, plain_output_path

log = logging.getLogger(__name__)   # routed to the console by the glue

MANIFEST_VERSION = 2   # 2: entries name their batch
RECORD_VERSION = 1
MANIFEST = "compile.manifest"
RECORDS = "batches"


@dataclass(frozen=True, slots=True)
class FileEntry:
    checksum: str
    size: int
    mtime_ns: int
    last_compiled: float
    template: str
    validator: str
    previous: str | None = None   # checksum before an unfinished write

    def knows(self, checksum: str) -> bool:
        return checksum in (self.checksum, self.previous)


@dataclass(frozen=True, slots=True)
class PatternFiles:
    """One pattern in a batch record: the input digest its files were made from
    (`doit_conductor.codegen.batches.input_digest`), the files, and the check
    settings they last passed (`Settings.checks_digest`; "": not known)."""

    digest: str
    files: dict[str, FileEntry]
    checks: str = ""


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A codegen batch's record as read: its patterns, its bytes on disk (None if
    there is none) and its mtime, so writing it again needs no re-read."""

    patterns: dict[str, PatternFiles]
    data: bytes | None
    mtime_ns: int

    def vouches_for(self, entry: FileEntry, info: os.stat_result) -> bool:
        """True if the file `info` describes is, by its stat, the one `entry` records.

        Size and mtime as recorded, and the file older than the record (like git's
        racy-clean rule: a change made in the record's own timestamp tick could
        keep both), so the file need not be read to know its content."""
        return (entry.previous is None and entry.mtime_ns != 0
                and info.st_mtime_ns == entry.mtime_ns and info.st_size == entry.size
                and info.st_mtime_ns < self.mtime_ns)


def recorded_file_intact(record: BatchRecord, path: str, entry: FileEntry,
                         info: os.stat_result | None) -> bool:
    """True if the generated file `path` (its lstat `info`) holds what `entry`
    records: by its stat when the record vouches for it, else by reading it (a
    file written in the record's own timestamp tick)."""
    if info is None or not stat.S_ISREG(info.st_mode):
        return False
    if record.vouches_for(entry, info):
        return True
    return (entry.previous is None and info.st_size == entry.size
            and file_checksum(path) == entry.checksum)


def record_path(cache_dir: str, batch: str) -> str:
    return os.path.join(cache_dir, RECORDS, f"{batch}.json")


def load_record(cache_dir: str, batch: str, output_dir: str | None = None) -> BatchRecord:
    """A batch's recorded patterns and files; a missing or garbled record reads as
    empty (everything is recompiled), and a garbled one is reported.  Garbled
    includes a digest that does not match (state_files.py) and a file named
    outside `output_dir` (or, without it, any path that is not plain and
    relative): a record must never make us move or delete `dodo.py` or
    `../outside.txt`."""
    path = record_path(cache_dir, batch)
    try:
        fd = safe_fs.open_regular(path)
    except FileNotFoundError:
        return BatchRecord({}, None, 0)
    except (OSError, UserError) as exc:
        return _unreadable(path, exc, None, 0)
    try:
        info = os.fstat(fd)
        data = os.read(fd, info.st_size + 1)
        while len(data) > info.st_size:  # it grew since the fstat: read on to the end
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        return _unreadable(path, exc, None, 0)
    finally:
        os.close(fd)
    try:
        document = decode_state(data)
        if document.get("version") != RECORD_VERSION or document.get("batch") != batch:
            raise ValueError("wrong version or batch")
        patterns = {}
        for name, built in document["patterns"].items():
            files = {p: from_json(FileEntry, e, p) for p, e in built["files"].items()}
            for named in files:
                if not plain_output_path(named, output_dir):
                    raise ValueError(f"names {named!r}, not a file inside the output directory")
            checks = built.get("checks", "")
            if not isinstance(built["digest"], str) or not isinstance(checks, str):
                raise ValueError(f"pattern {name!r} has no input digest")
            patterns[name] = PatternFiles(built["digest"], files, checks)
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        return _unreadable(path, exc, data, info.st_mtime_ns)
    return BatchRecord(patterns, data, info.st_mtime_ns)


def _unreadable(path: str, exc: Exception, data: bytes | None, mtime_ns: int) -> BatchRecord:
    log.warning("WARNING: %s: unreadable codegen record (%s); recompiling this batch's files",
                path, exc)
    return BatchRecord({}, data, mtime_ns)


def encode_record(batch: str, patterns: dict[str, PatternFiles]) -> bytes:
    """A batch record's bytes (also what an action-cache entry holds)."""
    return encode_state({"version": RECORD_VERSION, "batch": batch, "patterns": {
        name: {"digest": built.digest, "checks": built.checks,
               "files": {p: _entry_json(e) for p, e in sorted(built.files.items())}}
        for name, built in sorted(patterns.items())}})


def write_record(cache_dir: str, batch: str, patterns: dict[str, PatternFiles],
                 on_disk: bytes | None) -> bytes:
    """Record a batch's patterns unless the record already says exactly that.

    `on_disk` is the record's current bytes (None: no record).  A new record is
    created under a temporary name and renamed like any other: its readers
    (scan-output, the closing step) must never see half of one.  Returns the
    bytes now on disk."""
    data = encode_record(batch, patterns)
    if data != on_disk:
        atomic_write(record_path(cache_dir, batch), data)
    return data


@contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on the existing file `path` (opened
    read-only, without following a link, never truncated; a FIFO is refused,
    not waited on: see `safe_fs.open_regular`)."""
    fd = safe_fs.open_regular(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def drop_record(cache_dir: str, batch: str) -> None:
    safe_fs.unlink(record_path(cache_dir, batch))


def record_names(cache_dir: str) -> list[str]:
    return [e.name[:-5] for e in safe_fs.entries(os.path.join(cache_dir, RECORDS))
            if e.name.endswith(".json") and not e.name.startswith(".")]


def read_records(cache_dir: str, output_dir: str | None = None
                 ) -> dict[str, dict[str, PatternFiles]]:
    """Every batch record's patterns, by batch."""
    return {name: load_record(cache_dir, name, output_dir).patterns
            for name in record_names(cache_dir)}


def recorded_files(records: dict[str, dict[str, PatternFiles]]) -> dict[str, FileEntry]:
    """Every file the records name, with its entry."""
    return {path: entry for patterns in records.values() for built in patterns.values()
            for path, entry in built.files.items()}


def has_records(cache_dir: str) -> bool:
    return bool(safe_fs.entries(os.path.join(cache_dir, RECORDS)))


# The batch of a manifest entry no record lists any more, kept by a merge that
# may not let files go (a pattern left a batch that was rebuilt, and the run
# failed before its closing step): the next closing step prunes it.
ORPHAN = ""


@dataclass(frozen=True, slots=True)
class Merged:
    """What `merge_manifest` did: whether it rewrote the manifest, and the files the
    previous manifest listed that it no longer does (for pruning)."""

    changed: bool
    dropped: tuple[str, ...]


def merge_manifest(cache_dir: str, changed: Iterable[str] | None = None,
                   records: dict[str, dict[str, PatternFiles]] | None = None,
                   keep_others: bool = False) -> Merged:
    """Bring `compile.manifest` up to date with the batch records.

    With `changed` (the batches whose records changed or were dropped since the
    manifest was last merged), only their entries are replaced; without it, or
    when the manifest is missing or unreadable, it is rebuilt from every record.
    `records` (`read_records`, read by a caller that holds the run lock) spares
    reading them again.  `keep_others` (a batch that failed part-way, the scan
    before codegen) adds and replaces entries but removes none (an entry no
    record lists any more stays, as an `ORPHAN`): only the closing step, which
    knows every batch ran, lets files go, orphans included, and prunes them.
    Serialised with an advisory lock: parallel workers may finish at once.
    """
    # never truncated, never through a link (a link to a file elsewhere used to
    # be emptied by every run): see `safe_fs.open_lock`
    lock = safe_fs.open_lock(os.path.join(cache_dir, f".{MANIFEST}.lock"))
    manifest = os.path.join(cache_dir, MANIFEST)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_bytes(manifest)
        except OSError:
            current = None
        old = _manifest_files(current)
        # keep_others: add and replace only; an entry dropped here would be a
        # file nobody prunes
        if changed is None or old is None:
            names = record_names(cache_dir)
            files = {path: {**entry, "batch": ORPHAN} for path, entry in old.items()} \
                if keep_others and old else {}
        else:
            names = sorted(set(changed))
            drop = {*names, ORPHAN}
            files = dict(old) if keep_others else {
                path: entry for path, entry in old.items() if entry["batch"] not in drop}
        for name in names:
            patterns = records[name] if records is not None and name in records \
                else load_record(cache_dir, name).patterns
            for pattern, built in patterns.items():
                for path, entry in built.files.items():
                    files[path] = _manifest_entry(entry, pattern, name)
        dropped = tuple(sorted(set(old or ()) - set(files)))
        # sorted by path (what decoding the bytes gives): keys alone sort 2-3x faster
        # than items at 37,000 files
        data = encode_state({"version": MANIFEST_VERSION,
                             "files": {path: files[path] for path in sorted(files)}})
        if data == current:
            return Merged(False, dropped)
        atomic_write(manifest, data)
        return Merged(True, dropped)
    finally:
        os.close(lock)


def _manifest_files(data: bytes | None) -> dict[str, dict] | None:
    """The files of a manifest's bytes, or None unless it is one this code wrote."""
    if data is None:
        return None
    try:
        document = decode_state(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    files = document.get("files")
    if document.get("version") != MANIFEST_VERSION or not isinstance(files, dict) or not all(
            isinstance(e, dict) and isinstance(e.get("pattern"), str)
            and isinstance(e.get("batch"), str) for e in files.values()):
        return None
    return files


def _manifest_entry(entry: FileEntry, pattern: str, batch: str) -> dict:
    data = _entry_json(entry)
    data.pop("previous", None)
    data["pattern"] = pattern
    data["batch"] = batch
    return data


def read_manifest(cache_dir: str) -> dict[str, dict] | None:
    """The merged manifest's files, or None when it is missing or unreadable."""
    try:
        data = decode_state(safe_fs.read_bytes(os.path.join(cache_dir, MANIFEST)))
        if data.get("version") != MANIFEST_VERSION or not isinstance(data.get("files"), dict):
            return None
        return data["files"]
    except (OSError, ValueError, AttributeError):
        return None


def _entry_json(entry: FileEntry) -> dict:
    data = to_json(entry)
    if entry.previous is None:  # only a write in progress has one: keep fragments short
        del data["previous"]
    return data
