"""Action-cache entries through fsspec: a local directory, a shared mount, S3, ...

Entries live at `<root>/<key[:2]>/<key>` and are written once: a key already
present is never rewritten (the same key means the same content).  A new entry
is written to a temporary name and renamed into place, so a reader never sees
half of one; on object stores whose PUT is already atomic (S3, GCS, Azure) it is
written in place, which spares a server-side copy.

A `file://` store (the default, a shared mount) is read and written with `os`
calls (`fsio`), which cost a fraction of fsspec's layers per entry and spare
importing it; every other URL goes through fsspec, whose filesystem object is
made lazily, once per process: a forked `-n` worker must not reuse its
parent's connection pool.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.eviction import Collected, StoredEntry, collect, stored_files
from doit_conductor.fsio import atomic_write, check_real_directory

log = logging.getLogger(__name__)   # routed to the console by the glue

DEFAULT_DIR = ".conductor/cache/actions"
LOCAL_SCHEME = "file://"
_ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "memory"})


def store_url(setting: str, project_root: str | os.PathLike) -> str:
    """The store's fsspec URL: `setting` if it has a scheme, else a directory
    relative to the project (empty: `.conductor/cache/actions`)."""
    if "://" in setting:
        return setting
    path = Path(setting or DEFAULT_DIR)
    if not path.is_absolute():
        path = Path(project_root) / path
        # resolved below: a link inside the project on the way (a planted
        # `.conductor/cache`) is refused here, by name, not followed
        check_real_directory(os.fspath(path))
    return f"file://{path.resolve()}"


def check_available(url: str) -> None:
    """A UserError when fsspec cannot use `url` here (its backend, e.g. s3fs for
    s3://, is not installed, or the URL is malformed), before any task runs."""
    if url.startswith(LOCAL_SCHEME):
        return   # a directory: created on the first put, unreachable is a warning then
    import fsspec

    from doit_conductor.errors import UserError
    try:
        fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise UserError(f"cannot use the action cache at {url}: {exc}") from None


class ActionStore:
    """Get and put verified entries by key (see `cache_entry` for their bytes)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._directory = url[len(LOCAL_SCHEME):] if url.startswith(LOCAL_SCHEME) else None
        self._fs = None
        self._root = ""
        self._pid = 0

    def _filesystem(self):
        if self._fs is None or self._pid != os.getpid():
            import fsspec
            self._fs, root = fsspec.core.url_to_fs(self.url)
            self._root = root.rstrip("/")
            self._pid = os.getpid()
        return self._fs

    @property
    def local(self) -> bool:
        """Whether entries are files on this machine (a read costs microseconds,
        less than handing the task to a worker process)."""
        return self._directory is not None or _protocol(self._filesystem()) == "local"

    def path(self, key: str) -> str:
        if self._directory is None:
            self._filesystem()
        root = self._root if self._directory is None else self._directory.rstrip("/")
        return f"{root}/{key[:2]}/{key}"

    def get(self, key: str) -> bytes | None:
        """The stored bytes under `key`, None when there are none."""
        try:
            if self._directory is not None:
                # below the store's directory nothing is followed: a planted
                # link or FIFO is a miss (and a warning), never read
                return safe_fs.read_bytes(self._relative(key), root=self._directory)
            return self._filesystem().cat_file(self.path(key))
        except FileNotFoundError:
            return None
        except UserError as exc:
            log.warning("WARNING: %s; treated as a cache miss", exc)
            return None

    @staticmethod
    def _relative(key: str) -> str:
        return f"{key[:2]}/{key}"

    def put(self, key: str, data: bytes) -> bool:
        """Store `data` under `key` unless an entry is there; True if written."""
        final = self.path(key)
        if self._directory is not None:
            try:
                if safe_fs.lstat(self._relative(key), root=self._directory) is not None:
                    return False
                # the shard directory made (or found) without following a link
                safe_fs.make_dirs(key[:2], root=self._directory)
            except UserError as exc:
                log.warning("WARNING: %s; not storing there", exc)
                return False
            atomic_write(final, data)   # temporary file beside it, then rename
            return True
        fs = self._filesystem()
        if fs.exists(final):
            return False
        if _protocol(fs) in _ATOMIC_PUT:
            fs.pipe_file(final, data)
            return True
        fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        temporary = f"{final}.{uuid.uuid4().hex}.tmp"
        fs.pipe_file(temporary, data)
        try:
            fs.mv(temporary, final)
        except Exception:
            fs.rm_file(temporary)
            raise
        return True

    def discard(self, key: str) -> None:
        """Remove a damaged entry so that a good one can take its place."""
        try:
            if self._directory is not None:
                safe_fs.unlink(self._relative(key), root=self._directory)
            else:
                self._filesystem().rm_file(self.path(key))
        except FileNotFoundError:
            pass


def _protocol(fs) -> str:
    protocol = fs.protocol
    return protocol[0] if isinstance(protocol, (tuple, list)) else protocol


# -- bounding the local store (`doit cache-gc`) ------------------------------------

def collect_local(directory: str | os.PathLike, max_bytes: int, max_age_s: float,
                  now: float | None = None) -> Collected:
    """Bound a local store by size and age (0 or less: no bound); leftover
    temporary files go too.

    Reading an entry refreshes nothing, so age is since the entry was written:
    a hit does not keep an entry alive (a local store is cheap to refill)."""
    now = time.time() if now is None else now
    files: list[StoredEntry] = []
    for shard in safe_fs.entries(".", root=directory):
        # only `<xx>/` directories hold entries: a link there (to anyone's
        # directory) is never entered, a stray file or directory is not ours
        if shard.kind == safe_fs.DIRECTORY and len(shard.name) == 2:
            files += stored_files(safe_fs.entries(shard.name, root=directory))
    # a temporary file an hour old belongs to no writer still running
    stray = [e for e in files if e.path.endswith(".tmp") and now - e.mtime > 3600]
    return collect([e for e in files if not e.path.endswith(".tmp")],
                   max_bytes=max_bytes if max_bytes > 0 else None,
                   max_age_s=max_age_s if max_age_s > 0 else None, stray=stray, now=now,
                   root=directory)
