"""What a function of a file's bytes gave, remembered by the file's stat from
one run to the next.

Six tasks of phases 4-5 read every file of a whole tree after any edit:
checksums and code-stats the output tree (4,700 files at 1,000 patterns,
47,000 and 216 MB at 10,000, after an edit that changed four of them),
docs-links every docs page, sql-schema every SQL file (what it makes in
SQLite), schema-catalog every JSON schema, reproducibility every planned
output and pattern file; and the hand-edit check of every task's targets
under output/ (`artifacts.TargetsIntact`) each of docs' pages, three times a
run.  A file whose stat is the one recorded with its value keeps that value
unread.  The stat is (mtime, ctime, size, inode, device): ctime moves with
every write and no one but the kernel sets it.  A value is recorded only if
the file's stat was not recent when the file was read (a write within the
file system's timestamp granularity could leave the stat as it was: `racy`),
the rule of scan-output's memo and of the no-op snapshot.  The memo is a
cache: missing, damaged or of another kind, every file is read.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.incremental import racy, snapshot
from doit_conductor.state_files import StateError, read_state, write_state

VERSION = 1


class StatMemo:
    """The values of one derivation (`kind`) of the files a task reads, kept in
    the state file `path`."""

    def __init__(self, path: str, kind: str) -> None:
        self.path, self.kind = path, kind
        self.started_ns = time.time_ns()
        self.fine = racy.fine_devices()
        self.known = self._load()
        self.kept: dict[str, list] = {}
        self.read = 0

    def value(self, file: str, derive: Callable[[bytes], object],
              info: os.stat_result | None = None) -> object:
        """`derive(the bytes of file)`, or what it gave when the file last had
        this stat (`info`, its lstat if the caller has it).  A link, FIFO or
        device is refused by name (`safe_fs`)."""
        # what this memo learned in this run first: asked again, a file whose
        # stat did not move is not read again
        known = self.kept.get(file) or self.known.get(file)
        if known is not None:
            if info is None:
                info = safe_fs.lstat(file)
            if info is not None and known[:5] == _key(info):
                self.kept[file] = known
                return known[5]
        fd = safe_fs.open_regular(file)
        try:
            info = os.fstat(fd)
            data = safe_fs.read_fd(fd, file)
        finally:
            os.close(fd)
        self.read += 1
        value = derive(data)
        key = _key(info)
        if not snapshot.is_recent(tuple(key), self.started_ns, self.fine):
            self.kept[file] = [*key, value]
        return value

    def by_listing(self, derive: Callable[[bytes], object]) -> Callable[[str], object]:
        """`value(path, derive)` for one pass over many files in few directories:
        each file's lstat from one listing of its directory, not one lstat each."""
        listings: dict[str, dict[str, os.stat_result]] = {}

        def value(path: str) -> object:
            folder, name = os.path.split(path)
            if folder not in listings:
                listings[folder] = safe_fs.lstats(folder or ".")
            return self.value(path, derive, listings[folder].get(name))
        return value

    def save(self) -> None:
        """Keep what this run asked for (a file no longer asked for is gone from
        the tree).  Best effort: without it the next run reads every file."""
        if self.kept != self.known:
            with contextlib.suppress(OSError, UserError):
                write_state(self.path, {"kind": self.kind, "version": VERSION,
                                        "files": self.kept})
                # what the file holds now: a memo saved again unchanged (the
                # hand-edit check saves after each of doit's asks) writes nothing
                self.known = dict(self.kept)

    def _load(self) -> dict[str, list]:
        try:
            document = read_state(self.path, _is_memo)
        except StateError:
            return {}
        if document["kind"] != self.kind or document["version"] != VERSION:
            return {}
        return document["files"]


def sha256(data: bytes) -> str:
    """The derivation of checksums and reproducibility: the bytes' sha256, in hex."""
    return hashlib.sha256(data).hexdigest()


def files_read(read: int, files: int) -> str:
    """What a task that reads through a memo says at `-v 2`."""
    return (f"{read} of {files} files read; the other {files - read} have the stat "
            "they had when last read")


def _key(info: os.stat_result) -> list[int]:
    return [info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino, info.st_dev]


def _is_memo(document: object) -> bool:
    return (isinstance(document, dict) and isinstance(document.get("kind"), str)
            and isinstance(document.get("files"), dict)
            and all(isinstance(entry, list) and len(entry) == 6
                    and all(isinstance(part, int) for part in entry[:5])
                    for entry in document["files"].values()))
