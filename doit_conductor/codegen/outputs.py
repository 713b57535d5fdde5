"""Generated files on disk: write, prune, and the incremental-compilation manifest.

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
ones no pattern produces any more, which the closing step prunes.

Written for thousands of files per run: `OutputTree` resolves the output
directory once per process and checks each directory for a symbolic-link escape
once (again only if it is replaced), so a file costs an lstat of its directory,
an lstat of itself and the atomic write.
"""
from __future__ import annotations

import logging

import fcntl
import os
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import xxhash

from doit_conductor.codec import from_json, to_json
from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import (
    atomic_write, check_real_directory, create_new, holds, read_bytes)
from doit_conductor.paths import inside
from doit_conductor.state_files import decode_state, encode_state, plain_output_path

log = logging.getLogger(__name__)   # routed to the console by the glue

MANIFEST_VERSION = 2   # 2: entries name their batch
RECORD_VERSION = 1
MANIFEST = "compile.manifest"
RECORDS = "batches"


def content_checksum(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


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
    (`doit_conductor.codegen.batches.input_digest`) and the files."""

    digest: str
    files: dict[str, FileEntry]


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
            if not isinstance(built["digest"], str):
                raise ValueError(f"pattern {name!r} has no input digest")
            patterns[name] = PatternFiles(built["digest"], files)
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
        name: {"digest": built.digest,
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
    reading them again.  `keep_others` (a batch that failed part-way) adds and
    replaces entries but removes none: only the closing step, which knows every
    batch ran, lets files go (and prunes them).  Serialised with an advisory lock:
    parallel workers may finish at once.
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
        if changed is None or old is None:
            names, files = record_names(cache_dir), {}
        else:
            names = sorted(set(changed))
            drop = set(names)
            # keep_others: add and replace only; an entry dropped here would be
            # a file nobody prunes
            files = dict(old) if keep_others else {
                path: entry for path, entry in old.items() if entry["batch"] not in drop}
        for name in names:
            patterns = records[name] if records is not None and name in records \
                else load_record(cache_dir, name).patterns
            for pattern, built in patterns.items():
                for path, entry in built.files.items():
                    files[path] = _manifest_entry(entry, pattern, name)
        dropped = tuple(sorted(set(old or ()) - set(files)))
        data = encode_state({"version": MANIFEST_VERSION, "files": dict(sorted(files.items()))})
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


REFUSAL = "refusing to write through a symbolic link out of {}/"


class OutputTree:
    """The output directory as this process writes into it.

    Its real path is resolved once.  Each directory a file goes into is checked
    once for leading out of it through a symbolic link, and remembered by the
    identity (device, inode, type) of its own lstat: a directory replaced since
    by a symbolic link (even one given the freed inode number) is checked again.
    """

    def __init__(self, output_dir: str) -> None:
        self.output_dir = output_dir
        self.root = os.path.realpath(output_dir)
        self._checked: dict[str, tuple[int, int, int]] = {}

    def inside(self, path: str) -> bool:
        return inside(self.root, path)

    def inspect(self, path: str) -> os.stat_result | None:
        """The lstat of the generated file `path` (None if there is none yet);
        a UserError if writing it would leave the output directory through a
        symbolic link (its directory's or its own)."""
        directory = os.path.dirname(path)
        try:
            dir_info = os.lstat(directory)
            identity = (dir_info.st_dev, dir_info.st_ino, dir_info.st_mode)
        except (FileNotFoundError, NotADirectoryError):
            identity = None
        if identity is None or self._checked.get(directory) != identity:
            if not self.inside(directory):
                raise UserError(REFUSAL.format(self.output_dir), path)
            check_real_directory(directory)  # output/ itself a link: one clear error
            if identity is not None:
                self._checked[directory] = identity
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(info.st_mode):
            raise UserError(REFUSAL.format(self.output_dir), path)
        return info

    def write(self, path: str, data: bytes, info: os.stat_result | None) -> os.stat_result | None:
        """Write a generated file unless it already holds `data`; `info` is its
        `inspect` result.  A file replaced is replaced atomically (temporary file
        and rename); a new one is created in place.  Returns the new file's stat,
        or None if unchanged."""
        try:
            if info is None:
                try:
                    return create_new(path, data)   # nothing to replace: no rename
                except FileExistsError:
                    pass   # appeared since `inspect`: replace it as any other
            elif holds(path, data, info.st_size):
                return None
            return atomic_write(path, data)
        except OSError as exc:
            raise UserError(f"cannot write generated file: {exc.strerror}", path) from None

    def forget(self, directory: str) -> None:
        self._checked.pop(directory, None)


# One OutputTree per project directory and output directory, for the life of
# the process (a codegen worker writes many patterns' files into one tree, and
# each directory is checked once); only this module uses it.
_TREES: dict[tuple[str, str], OutputTree] = {}


def output_tree(output_dir: str) -> OutputTree:
    """This process's `OutputTree` for `output_dir` (relative to the working directory)."""
    key = (os.getcwd(), output_dir)
    tree = _TREES.get(key)
    if tree is None:
        tree = _TREES[key] = OutputTree(output_dir)
    return tree


def write_output(path: str, data: bytes, output_dir: str) -> bool:
    """Atomically write a generated file unless it already holds `data`."""
    tree = output_tree(output_dir)
    return tree.write(path, data, tree.inspect(path)) is not None


def file_checksum(path: str) -> str | None:
    """The checksum of the regular file `path`; None if it is missing.  A link,
    a directory or a FIFO is a UserError: never read (a FIFO would block)."""
    try:
        return content_checksum(read_bytes(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def prune(paths: list[str], output_dir: str) -> list[str]:
    """Delete generated files no longer produced, and directories left empty."""
    removed: list[str] = []
    if not paths:
        return removed
    tree = output_tree(output_dir)
    for path in sorted(paths):
        try:
            if tree.inspect(path) is None:
                continue
            safe_fs.unlink(path, missing_ok=False)
            removed.append(path)
        except UserError:
            continue  # never delete through a symbolic link out of the tree
        except (FileNotFoundError, IsADirectoryError):
            continue  # gone, or a directory someone made there: not ours
        parent = os.path.dirname(path)
        while os.path.realpath(parent) != tree.root and tree.inside(parent):
            try:
                if not safe_fs.rmdir(parent):
                    break
            except (OSError, UserError):
                break
            tree.forget(parent)
            parent = os.path.dirname(parent)
    return removed


def set_aside(path: str, hand_edits_dir: str) -> str:
    """Move a hand-edited file (or a directory someone made where a generated file
    belongs) under `hand_edits_dir`, named by the time it was found and never over
    an earlier copy (a file: link + unlink, since a link fails where the name is
    taken, where a rename would silently replace it).  Returns its new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    base = f"{hand_edits_dir}/{path}.{stamp}"
    check_real_directory(os.path.dirname(base))
    safe_fs.make_dirs(os.path.dirname(base))
    is_directory = stat.S_ISDIR((safe_fs.lstat(path) or os.stat_result((0,) * 10)).st_mode)
    number = 1
    while True:
        aside = base if number == 1 else f"{base}-{number}"
        if is_directory:
            if safe_fs.lstat(aside) is not None:
                number += 1
                continue
            os.rename(path, aside)
            return aside
        try:
            os.link(path, aside, follow_symlinks=False)
        except FileExistsError:
            number += 1
            continue
        safe_fs.unlink(path)
        return aside


def _entry_json(entry: FileEntry) -> dict:
    data = to_json(entry)
    if entry.previous is None:  # only a write in progress has one: keep fragments short
        del data["previous"]
    return data
