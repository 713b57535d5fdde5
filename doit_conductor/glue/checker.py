"""A doit file checker that hashes with xxhash and hashes each file version once.

doit's MD5Checker compares (mtime, size, md5) per task and dependency, but when a
file is touched without being changed its stored mtime is never refreshed, so it
is hashed again on every run.  Here every digest is also kept in a `DigestTable`,
keyed by path and valid for one (mtime, size); a touched-but-identical file is
hashed once and answered from that table afterwards.  `ConductorDB` persists the
table next to doit's own state so it survives between runs.
"""
from __future__ import annotations

import errno
import os
import stat as stat_module
from typing import NamedTuple

import xxhash
from doit.dependency import FileChangedChecker

from doit_conductor.incremental import snapshot

_CHUNK = 1 << 20


def file_digest(path: str) -> str:
    """xxh3-128 of a file's content, as hex.  Opened non-blocking and checked: a
    FIFO or a device (a file_dep linked to /dev/zero, say) is never read; it
    digests as its type, so the task runs and its action says what is wrong.
    A symbolic link is not opened either (a template linked to a file outside
    the project, even one of the same content, must not be read through): it
    digests as where it leads and the stat of what is there, so a change of
    either is a change, and the task that reads it runs (and refuses it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        info = os.stat(path)
        return (f"link:{os.readlink(path)}:{info.st_mtime_ns}:{info.st_ctime_ns}:"
                f"{info.st_size}:{info.st_ino}")
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
    """The digest of the version of each file last hashed:
    path -> (mtime, size, digest, ctime_ns).

    A version is its (mtime, size, ctime): mtime alone can be put back after an
    edit (`touch -r`, `rsync -t`, tar), ctime cannot be set by any tool.  An entry
    without a ctime (saved by an older version) is not trusted: hashed once more.

    Lifetime: the conductor backend's, filled when it opens the DB and saved
    with the DB when `dirty`.  doit creates the checker and the backend
    separately (`checker_cls()`, `db_class(name)`); the run command hands the
    backend's table to the checker (`share_digests`) before any task is
    checked.  A checker without it (`doit info`, another backend) keeps a
    table of its own: a cache, so it only hashes more.  A forked worker changes
    only its own copy, which is never saved: doit saves the DB in the main
    process.
    """

    __slots__ = ("entries", "dirty")

    def __init__(self, entries: dict[str, tuple] | None = None) -> None:
        self.entries = dict(entries or {})
        self.dirty = False  # changed since loaded or saved

    def load(self, entries: dict[str, tuple]) -> None:
        self.entries.update(entries)

    def digest(self, path: str, stat: os.stat_result) -> str:
        """Digest of `path` as it is now, hashing only if this version is new."""
        return self.version(path, stat)[2]

    def version(self, path: str, stat: os.stat_result) -> tuple:
        """The entry of `path` as it is now, (mtime, size, digest, ctime_ns),
        hashing only if this version is new."""
        known = self.entries.get(path)
        if known is not None and len(known) == 4 and known[0] == stat.st_mtime and \
                known[1] == stat.st_size and known[3] == stat.st_ctime_ns:
            return known
        known = self.entries[path] = (stat.st_mtime, stat.st_size, file_digest(path),
                                      stat.st_ctime_ns)
        self.dirty = True
        return known



class SweptStat(NamedTuple):
    """What the checks read of an os.stat result, rebuilt from a swept row;
    `st_mtime` as os.stat computes it, so it equals a float doit saved."""

    st_mtime: float
    st_mtime_ns: int
    st_ctime_ns: int
    st_size: int
    st_ino: int
    st_dev: int

    @classmethod
    def of(cls, row: snapshot.Stat) -> "SweptStat":
        mtime_ns, ctime_ns, size, inode, device = row
        seconds, nanoseconds = divmod(mtime_ns, 1_000_000_000)
        return cls(seconds + nanoseconds * 1e-9, mtime_ns, ctime_ns, size, inode, device)


# the effective ids decide, as for os.stat (os.access asks with the real ones by default)
_EFFECTIVE_IDS = os.access in os.supports_effective_ids


class XXHashChecker(FileChangedChecker):
    """State per dependency is (mtime, size, xxh3-128, ctime_ns).

    doit's own checkers trust an unchanged mtime; this one trusts the stat only
    when size and ctime are unchanged too, since an edit whose mtime was put
    back (`touch -r`) still moves the ctime.  A changed stat is then decided by
    content, through the digest table (hashed once per file version)."""

    def __init__(self, digests: DigestTable | None = None) -> None:
        self.digests = DigestTable() if digests is None else digests

    def exists(self, file_path):
        """Whether a target exists, as os.path.exists answers, in half its time: no
        stat result is built (doit asks for every target of every task it checks,
        37,000 per walk at 10,000 patterns).  While the fast no-op's recording
        judges the run, a path it swept exists if its stat (which follows links,
        as this does) found it: the verdict rests on the stats recorded."""
        swept = snapshot.judged_stat(file_path)
        if swept is not snapshot.NOT_SWEPT:
            return swept is not None
        try:
            return os.access(file_path, os.F_OK, effective_ids=_EFFECTIVE_IDS)
        except (OSError, ValueError):
            return False

    def info(self, file_path):
        """os.stat of a file_dep; while the recording judges the run, the stat it
        swept (see `exists`)."""
        swept = snapshot.judged_stat(file_path)
        if swept is snapshot.NOT_SWEPT:
            return os.stat(file_path)
        if swept is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), file_path)
        return SweptStat.of(swept)

    def check_modified(self, file_path, file_stat, state):
        mtime, size, digest = state[:3]
        if file_stat.st_size != size:
            return True
        if file_stat.st_mtime == mtime and len(state) > 3 and file_stat.st_ctime_ns == state[3]:
            return False
        return self.digests.digest(file_path, file_stat) != digest

    def get_state(self, dep, current_state):
        stat = os.stat(dep)
        if current_state and len(current_state) > 3 and current_state[0] == stat.st_mtime and \
                current_state[1] == stat.st_size and current_state[3] == stat.st_ctime_ns:
            return None
        # The table's own entry, which has the same shape: every task that reads
        # the file and the table then hold one object, which the DB's marshal
        # writes once (at 10,000 patterns, four tasks read every pattern: a
        # fifth of the DB, and 38 -> 23 ms to open it).
        return self.digests.version(dep, stat)


def share_digests(dep_manager) -> None:
    """Let the run's checker read and fill the table its backend loads and
    saves (doit's `Dependency` holds both as `checker` and `backend`)."""
    checker, backend = dep_manager.checker, dep_manager.backend
    if isinstance(checker, XXHashChecker) and isinstance(getattr(backend, "digests", None),
                                                         DigestTable):
        checker.digests = backend.digests
