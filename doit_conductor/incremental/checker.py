"""A doit file checker that hashes with xxhash and hashes each file version once.

doit's MD5Checker compares (mtime, size, md5) per task and dependency, but when a
file is touched without being changed its stored mtime is never refreshed, so it
is hashed again on every run.  Here every digest is also kept in a `DigestTable`,
keyed by path and valid for one (mtime, size); a touched-but-identical file is
hashed once and answered from that table afterwards.  `ConductorDB` persists the
table next to doit's own state so it survives between runs.
"""
from __future__ import annotations

import os
import stat as stat_module

import xxhash
from doit.dependency import FileChangedChecker

_CHUNK = 1 << 20


def file_digest(path: str) -> str:
    """xxh3-128 of a file's content, as hex.  Opened non-blocking and checked: a
    FIFO or a device (a file_dep linked to /dev/zero, say) is never read; it
    digests as its type, so the task runs and its action says what is wrong."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat_module.S_ISREG(mode):
            return f"special:{stat_module.S_IFMT(mode):o}"
        hasher = xxhash.xxh3_128()
        while chunk := os.read(fd, _CHUNK):
            hasher.update(chunk)
        return hasher.hexdigest()
    finally:
        os.close(fd)


class DigestTable:
    """The digest of the version of each file last hashed: path -> (mtime, size, digest).

    Lifetime: one per process, `DIGESTS`, because doit creates the checker and
    the backend separately (`checker_cls()`, `db_class(name)`) and they must
    share it: the conductor backend fills it when it opens the DB and saves it
    with the DB when `dirty`; the checker reads and adds to it.  Both take
    another table as an argument (tests do).  A forked worker changes only its
    own copy, which is never saved: doit saves the DB in the main process.
    """

    __slots__ = ("entries", "dirty")

    def __init__(self, entries: dict[str, tuple[float, int, str]] | None = None) -> None:
        self.entries = dict(entries or {})
        self.dirty = False  # changed since loaded or saved

    def load(self, entries: dict[str, tuple[float, int, str]]) -> None:
        self.entries.update(entries)

    def digest(self, path: str, stat: os.stat_result) -> str:
        """Digest of `path` as it is now, hashing only if this version is new."""
        known = self.entries.get(path)
        if known is not None and known[0] == stat.st_mtime and known[1] == stat.st_size:
            return known[2]
        digest = file_digest(path)
        self.entries[path] = (stat.st_mtime, stat.st_size, digest)
        self.dirty = True
        return digest


DIGESTS = DigestTable()


class XXHashChecker(FileChangedChecker):
    """State per dependency is (mtime, size, xxh3-128); mtime and size are checked first."""

    def __init__(self, digests: DigestTable | None = None) -> None:
        self.digests = DIGESTS if digests is None else digests

    def check_modified(self, file_path, file_stat, state):
        mtime, size, digest = state
        if file_stat.st_mtime == mtime:
            return False
        if file_stat.st_size != size:
            return True
        return self.digests.digest(file_path, file_stat) != digest

    def get_state(self, dep, current_state):
        stat = os.stat(dep)
        if current_state and current_state[0] == stat.st_mtime:
            return None
        return stat.st_mtime, stat.st_size, self.digests.digest(dep, stat)
