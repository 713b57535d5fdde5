"""Generated files on disk: write, prune, and the incremental-compilation manifest.

Each codegen sub-task owns one manifest fragment
(`.conductor/cache/manifest.d/<pattern>.json`) listing the files it produced,
with their checksum, size, mtime and when they were last compiled.  Workers never
share a file.  A fragment is written before its files (with the checksums they
had, as `previous`) and again after, so whatever moment a crash hits, every
file's content is one the fragment knows: a generated file is never mistaken for
a hand edit.  `compile.manifest` is the merged view for people and tools,
rebuilt from the fragments at the end of every run that generated code.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import xxhash

from tasks.codegen.plan import escapes_through_symlink
from tasks.errors import UserError
from tasks.fsio import dump_json, write_if_changed

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


def read_fragment(cache_dir: str, pattern: str) -> dict[str, FileEntry]:
    """A pattern's recorded files; a missing or garbled fragment reads as empty
    (everything is recompiled), and a garbled one is reported."""
    path = Path(cache_dir) / FRAGMENTS / f"{pattern}.json"
    try:
        data = json.loads(path.read_bytes())
        if data.get("version") != MANIFEST_VERSION or data.get("pattern") != pattern:
            raise ValueError("wrong version or pattern")
        return {p: FileEntry(**e) for p, e in data["files"].items()}
    except FileNotFoundError:
        return {}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        sys.stderr.write(f"WARNING: {path}: unreadable manifest fragment ({exc}); "
                         "recompiling this pattern's files\n")
        return {}


def write_fragment(cache_dir: str, pattern: str, files: dict[str, FileEntry]) -> None:
    document = {"version": MANIFEST_VERSION, "pattern": pattern,
                "files": {p: _entry_json(e) for p, e in sorted(files.items())}}
    write_if_changed(Path(cache_dir) / FRAGMENTS / f"{pattern}.json", dump_json(document))


def drop_fragment(cache_dir: str, pattern: str) -> None:
    (Path(cache_dir) / FRAGMENTS / f"{pattern}.json").unlink(missing_ok=True)


def fragment_names(cache_dir: str) -> list[str]:
    return sorted(p.stem for p in (Path(cache_dir) / FRAGMENTS).glob("*.json"))


def read_fragments(cache_dir: str) -> dict[str, FileEntry]:
    """Every recorded generated file, from all fragments."""
    files: dict[str, FileEntry] = {}
    for name in fragment_names(cache_dir):
        files.update(read_fragment(cache_dir, name))
    return files


def has_fragments(cache_dir: str) -> bool:
    try:
        return any(os.scandir(Path(cache_dir) / FRAGMENTS))
    except FileNotFoundError:
        return False


def merge_manifest(cache_dir: str) -> bool:
    """Rebuild `compile.manifest` from the fragments; returns True if it changed.

    Serialised with an advisory lock: parallel workers may finish at once.
    """
    lock_path = Path(cache_dir) / f".{MANIFEST}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        files = {}
        for name in fragment_names(cache_dir):
            for path, entry in read_fragment(cache_dir, name).items():
                files[path] = dict(_entry_json(entry), pattern=name)
                files[path].pop("previous", None)
        document = {"version": MANIFEST_VERSION, "files": dict(sorted(files.items()))}
        return write_if_changed(Path(cache_dir) / MANIFEST, dump_json(document))


def read_manifest(cache_dir: str) -> dict[str, dict] | None:
    """The merged manifest's files, or None when it is missing or unreadable."""
    try:
        data = json.loads((Path(cache_dir) / MANIFEST).read_bytes())
        if data.get("version") != MANIFEST_VERSION or not isinstance(data.get("files"), dict):
            return None
        return data["files"]
    except (OSError, ValueError, AttributeError):
        return None


def write_output(path: str, data: bytes, output_dir: str) -> bool:
    """Atomically write a generated file unless it already holds `data`."""
    if escapes_through_symlink(path, output_dir):
        raise UserError(f"refusing to write through a symbolic link out of {output_dir}/", path)
    try:
        return write_if_changed(path, data)
    except OSError as exc:
        raise UserError(f"cannot write generated file: {exc.strerror}", path) from None


def file_checksum(path: str) -> str | None:
    try:
        return content_checksum(Path(path).read_bytes())
    except OSError:
        return None


def file_matches(path: str, checksum: str) -> bool:
    return file_checksum(path) == checksum


def prune(paths: list[str], output_dir: str) -> list[str]:
    """Delete generated files no longer produced, and directories left empty."""
    removed = []
    root = os.path.realpath(output_dir)
    for path in sorted(paths):
        if escapes_through_symlink(path, output_dir):
            continue
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            continue
        parent = os.path.dirname(path)
        while os.path.realpath(parent).startswith(root + os.sep):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)
    return removed


def _entry_json(entry: FileEntry) -> dict:
    data = {"checksum": entry.checksum, "size": entry.size, "mtime_ns": entry.mtime_ns,
            "last_compiled": entry.last_compiled, "template": entry.template,
            "validator": entry.validator}
    if entry.previous is not None:
        data["previous"] = entry.previous
    return data
