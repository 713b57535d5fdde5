"""Generated files on disk: write, prune, and the incremental-compilation manifest.

Each codegen sub-task owns one manifest fragment
(`.conductor/cache/manifest.d/<pattern>.json`) listing the files it produced,
with their checksum, size, mtime and when they were last compiled.  Workers never
share a file.  A fragment is written before its files (with the checksums they
had, as `previous`) and again after, so whatever moment a crash hits, every
file's content is one the fragment knows: a generated file is never mistaken for
a hand edit.  `compile.manifest` is the merged view for people and tools,
updated from the fragments that changed at the end of every run that generated
code (rebuilt from all of them when it is missing, unreadable or the plan changed).

Written for thousands of files per run: `OutputTree` resolves the output
directory once per process and checks each directory for a symbolic-link escape
once (again only if it is replaced), so a file costs an lstat of its directory,
an lstat of itself and the atomic write.
"""
from __future__ import annotations

import fcntl
import os
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

import xxhash

from doit_conductor.codec import from_json, to_json
from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import (
    atomic_write, check_real_directory, holds, read_bytes, write_if_changed)
from doit_conductor.paths import inside
from doit_conductor.state_files import decode_state, encode_state, plain_output_path

MANIFEST_VERSION = 1
MANIFEST = "compile.manifest"
FRAGMENTS = "manifest.d"


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
class Fragment:
    """A pattern's manifest fragment as read: its files, its bytes on disk (None if
    there is none) and its mtime, so writing it again needs no re-read."""

    files: dict[str, FileEntry]
    data: bytes | None
    mtime_ns: int

    def vouches_for(self, entry: FileEntry, info: os.stat_result) -> bool:
        """True if the file `info` describes is, by its stat, the one `entry` records.

        Size and mtime as recorded, and the file older than the fragment (like git's
        racy-clean rule: a change made in the fragment's own timestamp tick could
        keep both), so the file need not be read to know its content."""
        return (entry.previous is None and entry.mtime_ns != 0
                and info.st_mtime_ns == entry.mtime_ns and info.st_size == entry.size
                and info.st_mtime_ns < self.mtime_ns)


def fragment_path(cache_dir: str, pattern: str) -> str:
    return os.path.join(cache_dir, FRAGMENTS, f"{pattern}.json")


def load_fragment(cache_dir: str, pattern: str, output_dir: str | None = None) -> Fragment:
    """A pattern's recorded files; a missing or garbled fragment reads as empty
    (everything is recompiled), and a garbled one is reported.  Garbled includes
    a digest that does not match (state_files.py) and a file named outside
    `output_dir` (or, without it, any path that is not plain and relative): a
    fragment must never make us move or delete `dodo.py` or `../outside.txt`."""
    path = fragment_path(cache_dir, pattern)
    try:
        fd = safe_fs.open_regular(path)
    except FileNotFoundError:
        return Fragment({}, None, 0)
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
        if document.get("version") != MANIFEST_VERSION or document.get("pattern") != pattern:
            raise ValueError("wrong version or pattern")
        files = {p: from_json(FileEntry, e, p) for p, e in document["files"].items()}
        for named, entry in files.items():
            if not plain_output_path(named, output_dir):
                raise ValueError(f"names {named!r}, not a file inside the output directory")
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        return _unreadable(path, exc, data, info.st_mtime_ns)
    return Fragment(files, data, info.st_mtime_ns)


def _unreadable(path: str, exc: Exception, data: bytes | None, mtime_ns: int) -> Fragment:
    sys.stderr.write(f"WARNING: {path}: unreadable manifest fragment ({exc}); "
                     "recompiling this pattern's files\n")
    return Fragment({}, data, mtime_ns)


def read_fragment(cache_dir: str, pattern: str, output_dir: str | None = None
                  ) -> dict[str, FileEntry]:
    """A pattern's recorded files (see `load_fragment`)."""
    return load_fragment(cache_dir, pattern, output_dir).files


_UNKNOWN = object()


def write_fragment(cache_dir: str, pattern: str, files: dict[str, FileEntry],
                   on_disk: bytes | None | object = _UNKNOWN) -> bytes:
    """Record a pattern's files unless the fragment already says exactly that.

    `on_disk` is the fragment's current bytes when the caller knows them (None: no
    fragment), which spares reading it again.  Returns the bytes now on disk."""
    document = {"version": MANIFEST_VERSION, "pattern": pattern,
                "files": {p: _entry_json(e) for p, e in sorted(files.items())}}
    data = encode_state(document)
    path = fragment_path(cache_dir, pattern)
    if on_disk is _UNKNOWN:
        write_if_changed(path, data)
    elif data != on_disk:
        atomic_write(path, data)
    return data


def drop_fragment(cache_dir: str, pattern: str) -> None:
    safe_fs.unlink(fragment_path(cache_dir, pattern))


def fragment_names(cache_dir: str) -> list[str]:
    return [e.name[:-5] for e in safe_fs.entries(os.path.join(cache_dir, FRAGMENTS))
            if e.name.endswith(".json") and not e.name.startswith(".")]


def read_fragments(cache_dir: str, output_dir: str | None = None
                   ) -> dict[str, dict[str, FileEntry]]:
    """Every fragment's recorded files, by pattern."""
    return {name: read_fragment(cache_dir, name, output_dir)
            for name in fragment_names(cache_dir)}


def has_fragments(cache_dir: str) -> bool:
    return bool(safe_fs.entries(os.path.join(cache_dir, FRAGMENTS)))


def merge_manifest(cache_dir: str, changed: Iterable[str] | None = None,
                   fragments: dict[str, dict[str, FileEntry]] | None = None) -> bool:
    """Bring `compile.manifest` up to date with the fragments; True if it changed.

    With `changed` (the patterns whose fragments changed or were dropped since the
    manifest was last merged), only their entries are replaced; without it, or
    when the manifest is missing or unreadable, it is rebuilt from every fragment.
    `fragments` (`read_fragments`, read by a caller that holds the run lock) spares
    reading them again.  Serialised with an advisory lock: parallel workers may
    finish at once.
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
        files = _manifest_files(current) if changed is not None else None
        if files is None:
            names, files = fragment_names(cache_dir), {}
        else:
            names = sorted(set(changed))
            drop = set(names)
            files = {p: e for p, e in files.items() if e["pattern"] not in drop}
        for name in names:
            recorded = fragments[name] if fragments is not None and name in fragments \
                else read_fragment(cache_dir, name)
            for path, entry in recorded.items():
                files[path] = _manifest_entry(entry, name)
        data = encode_state({"version": MANIFEST_VERSION, "files": dict(sorted(files.items()))})
        if data == current:
            return False
        atomic_write(manifest, data)
        return True
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
            isinstance(e, dict) and isinstance(e.get("pattern"), str) for e in files.values()):
        return None
    return files


def _manifest_entry(entry: FileEntry, pattern: str) -> dict:
    data = _entry_json(entry)
    data.pop("previous", None)
    data["pattern"] = pattern
    return data


def read_manifest(cache_dir: str) -> dict[str, dict] | None:
    """The merged manifest's files, or None when it is missing or unreadable."""
    try:
        data = decode_state(safe_fs.read_bytes(os.path.join(cache_dir, MANIFEST)))
        if data.get("version") != MANIFEST_VERSION or not isinstance(data.get("files"), dict):
            return None
        return data["files"]
    except (OSError, ValueError, AttributeError, UserError):
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
        """Atomically write a generated file unless it already holds `data`; `info` is
        its `inspect` result.  Returns the new file's stat, or None if unchanged."""
        try:
            if info is not None and holds(path, data, info.st_size):
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
