"""File writes that matter: atomic, and skipped when the content is unchanged."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same directory.

    Readers see the old content or the new one, never a mix; a crash leaves at
    most a stray `.tmp` file, which `remove_stale_temps` clears.  `fsync` makes the
    new content durable before the rename (used for state a power loss must not
    corrupt).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        # mkstemp creates 0600; generated files get the usual umask-derived mode.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:
            # A failed write() names no file; say which one (full disk, quota).
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def write_if_changed(path: str | os.PathLike, data: bytes) -> bool:
    """Atomically write `data` unless `path` already holds exactly it.

    Returns True when the file was written.  An unchanged file keeps its mtime,
    so nothing downstream of it re-runs.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
    atomic_write(path, data)
    return True


def dump_json(value: object) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, trailing newline.

    Not indented: with `indent` CPython's json falls back to its pure-Python
    encoder, 3-5x slower on the megabyte state files of a large pattern library
    (`python -m json.tool` shows them indented)."""
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            + "\n").encode()


def write_json_if_changed(path: str | os.PathLike, value: object) -> bool:
    return write_if_changed(path, dump_json(value))


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Delete temporary files an interrupted `atomic_write` left behind."""
    removed = []
    for tmp in Path(directory).rglob(".*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        current = os.umask(0)
        os.umask(current)
        _UMASK = current
    return _UMASK
