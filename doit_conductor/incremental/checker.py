"""A doit file checker that hashes with xxhash and hashes each file version once.

doit's MD5Checker compares (mtime, size, md5) per task and dependency, but when a
file is touched without being changed its stored mtime is never refreshed, so it
is hashed again on every run.  Here every digest is also kept in `DIGESTS`, keyed
by path and valid for one (mtime, size); a touched-but-identical file is hashed
once and answered from that table afterwards.  `ConductorDB` persists the table
next to doit's own state so it survives between runs.
"""
from __future__ import annotations

import os

import xxhash
from doit.dependency import FileChangedChecker

# path -> (mtime, size, digest) of the version last hashed
DIGESTS: dict[str, tuple[float, int, str]] = {}
# set when DIGESTS changed and should be persisted
DIGESTS_DIRTY = False

_CHUNK = 1 << 20


def file_digest(path: str) -> str:
    """xxh3-128 of a file's content, as hex."""
    hasher = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def cached_digest(path: str, stat: os.stat_result) -> str:
    """Digest of `path` as it is now, hashing only if this version is new."""
    global DIGESTS_DIRTY
    known = DIGESTS.get(path)
    if known is not None and known[0] == stat.st_mtime and known[1] == stat.st_size:
        return known[2]
    digest = file_digest(path)
    DIGESTS[path] = (stat.st_mtime, stat.st_size, digest)
    DIGESTS_DIRTY = True
    return digest


class XXHashChecker(FileChangedChecker):
    """State per dependency is (mtime, size, xxh3-128); mtime and size are checked first."""

    def check_modified(self, file_path, file_stat, state):
        mtime, size, digest = state
        if file_stat.st_mtime == mtime:
            return False
        if file_stat.st_size != size:
            return True
        return cached_digest(file_path, file_stat) != digest

    def get_state(self, dep, current_state):
        stat = os.stat(dep)
        if current_state and current_state[0] == stat.st_mtime:
            return None
        return stat.st_mtime, stat.st_size, cached_digest(dep, stat)
