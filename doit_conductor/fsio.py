"""File writes that matter: atomic, and skipped when the content is unchanged.

Written for thousands of small files per run: a write costs the syscalls the
guarantee needs (create a temporary file, write, rename; a new file: create it
unnamed, write, link) and little else.  The
directory is created only when creating the temporary file finds it missing, the
temporary file gets its mode from the umask as it is created (no chmod), and
comparisons read with raw `os` calls (Python's buffered `open` adds an fstat, an
isatty ioctl and an lseek per file).
"""
from __future__ import annotations

import errno
import itertools
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import orjson

from doit_conductor import gc_pause, safe_fs
from doit_conductor.errors import UserError

_OPEN_TEMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_temp_numbers = itertools.count()
# Directories already found to be real directories all the way down from the
# working directory, by the identity of their own lstat (a directory swapped for
# a symbolic link since has another identity and is checked again).
_real_dirs: dict[str, tuple[int, int, int]] = {}

SYMLINK_REFUSAL = safe_fs.LINK_REFUSAL


def atomic_write(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> os.stat_result:
    """Write `data` to `path` through a temporary file in the same directory.

    Readers see the old content or the new one, never a mix; a crash leaves at
    most a stray `.<name>.<id>.tmp` file, which `remove_stale_temps` clears.
    `fsync` makes the new content durable before the rename (used for state a
    power loss must not corrupt).  Returns the new file's stat (a rename keeps
    the mtime, so it is the file's).
    """
    return _through_temp(os.fspath(path), data, fsync, _replace)


def create_new(path: str | os.PathLike, data: bytes) -> os.stat_result:
    """Create `path`, which must not exist, holding `data`.

    Written as an unnamed file in the target directory (Linux's O_TMPFILE) and
    linked into place once complete, so a crash never leaves a short file under
    the real name, nor any file at all; where the file system cannot do that,
    under a temporary name that is linked into place and removed (a crash
    leaves a stray temporary at most, which `remove_stale_temps` clears).  Not
    fsync'd, and never replacing anything: FileExistsError if something is
    there (then replace it with `atomic_write`)."""
    global _unnamed_files
    path = os.fspath(path)
    if _unnamed_files:
        try:
            return _create_unnamed(path, data)
        except _Unsupported:
            _unnamed_files = False
    return _through_temp(path, data, False, _link_new)


# One directory change per new file (the link), against three for a named
# temporary file (create, link, unlink): 3,700 files created by two processes
# took 0.41 s instead of 0.83 s (plain open-and-write: 0.39 s; medians of 9
# interleaved rounds on ext4).
# No O_NOFOLLOW: it would apply to the directory itself, which
# `check_real_directory` vouches for inside the project and which is the
# user's choice outside it (as for a named temporary file in it).
_OPEN_UNNAMED = getattr(os, "O_TMPFILE", 0) | os.O_WRONLY | os.O_CLOEXEC
# Linked through /proc, which an unprivileged process may do for its own file.
_unnamed_files = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


class _Unsupported(Exception):
    """The file system (or kernel) cannot create unnamed files."""


def _create_unnamed(path: str, data: bytes) -> os.stat_result:
    directory = os.path.dirname(path)
    check_real_directory(directory)
    directory = directory or "."
    try:
        fd = _open_unnamed(directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        fd = _open_unnamed(directory)
    try:
        try:
            _write_all(fd, data)
            info = os.fstat(fd)
        except OSError as exc:   # a full disk: name the file, not the descriptor
            raise OSError(exc.errno, exc.strerror, path) from exc
        _link_unnamed(fd, path)
    finally:
        os.close(fd)
    return info


def _link_unnamed(fd: int, path: str) -> None:
    """Give the unnamed file `fd` its name: linkat(2) with AT_SYMLINK_FOLLOW,
    which Python uses only when given a directory descriptor (plain link(2)
    would link /proc's magic link itself); an absolute source ignores it.
    FileExistsError if anything stands at `path`, a link included (never
    followed); `_Unsupported` where /proc cannot be linked from (no /proc
    of ours, a file system without hard links)."""
    try:
        os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=fd, follow_symlinks=True)
    except FileExistsError as exc:
        raise FileExistsError(exc.errno, exc.strerror, path) from None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EACCES,
                         errno.EOPNOTSUPP):
            raise _Unsupported from None   # the named temporary file's way says why, if it fails too
        raise OSError(exc.errno, exc.strerror, path) from exc


def _open_unnamed(directory: str) -> int:
    try:
        return os.open(directory, _OPEN_UNNAMED, 0o666)
    except OSError as exc:
        # a kernel without O_TMPFILE opens the directory itself: EISDIR
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.EISDIR):
            raise _Unsupported from None
        raise


def _replace(tmp: str, path: str) -> None:
    try:
        os.replace(tmp, path)
    except IsADirectoryError:
        # a directory stands where the file belongs: someone's, not ours to delete
        raise UserError("is a directory where a file belongs; refusing to replace "
                        "it (remove it)", path) from None


def _link_new(tmp: str, path: str) -> None:
    try:
        os.link(tmp, path, follow_symlinks=False)   # EEXIST if anything stands there
    except FileExistsError as exc:
        raise FileExistsError(exc.errno, exc.strerror, path) from None
    _remove_temp(tmp)


def _remove_temp(tmp: str) -> None:
    """Remove a temporary file of ours by the rule it was created by
    (`check_real_directory`): in the project never through a link; outside it
    in its directory as the user's path leads there, linked directories
    included (before, the file was written, then refused, its temporary kept)."""
    directory = os.path.dirname(tmp)
    safe_fs.unlink(tmp, root=directory if _outside_project(directory) else None)


def _through_temp(path: str, data: bytes, fsync: bool,
                  into_place: Callable[[str, str], None]) -> os.stat_result:
    """Write a temporary file next to `path`, then `into_place(tmp, path)`; the
    temporary file is removed if anything fails, and the error names `path`."""
    directory, name = os.path.split(path)
    check_real_directory(directory)
    try:
        fd, tmp = _create_temp(directory, name)
    except FileNotFoundError:
        os.makedirs(directory or ".", exist_ok=True)
        fd, tmp = _create_temp(directory, name)
    try:
        try:
            _write_all(fd, data)
            if fsync:
                os.fsync(fd)
            info = os.fstat(fd)
        finally:
            os.close(fd)
        into_place(tmp, path)
    except BaseException as exc:
        _remove_temp(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            # A failed write() names no file; say which one (full disk, quota).
            raise OSError(exc.errno, exc.strerror, path) from exc
        raise
    return info


def check_real_directory(directory: str) -> None:
    """UserError naming the first component of the relative `directory` that is a
    symbolic link.  The project's own files (output/, .conductor/) are addressed
    relative to the project root, and a link anywhere on the way (a committed
    `output` symlink, a planted `.conductor/state`) would aim our writes
    elsewhere; absolute paths (a report the user asked for) are the user's choice.
    The final component needs no check: the temporary file is opened with
    O_NOFOLLOW and a rename replaces a link rather than following it."""
    if os.path.isabs(directory):
        # inside the project (a reporter given the project's absolute path) the
        # same rule holds; elsewhere the path is the user's choice
        if _outside_project(directory):
            return
        directory = directory[len(os.getcwd().rstrip(os.sep)) + 1:]
    if not directory:
        return
    key = os.path.join(os.getcwd(), directory)
    try:
        info = os.lstat(directory)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    if info is not None and _real_dirs.get(key) == (info.st_dev, info.st_ino,
                                                          info.st_mode):
        return
    partial = ""
    for part in Path(directory).parts:
        partial = os.path.join(partial, part)
        if part in (".", ".."):
            continue
        try:
            mode = os.lstat(partial).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return  # created by makedirs as a real directory
        if stat.S_ISLNK(mode):
            raise UserError(SYMLINK_REFUSAL, partial)
        if not stat.S_ISDIR(mode):   # a file where a folder of the project belongs
            raise UserError(safe_fs.NOT_A_DIRECTORY, partial)
    if info is not None and stat.S_ISDIR(info.st_mode):
        _real_dirs[key] = (info.st_dev, info.st_ino, info.st_mode)


def _outside_project(directory: str) -> bool:
    """An absolute directory that is not below the working directory (the
    project root, where doit runs)."""
    return os.path.isabs(directory) and \
        not directory.startswith(os.getcwd().rstrip(os.sep) + os.sep)


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """A new temporary file next to `name`: mode 0666 less the umask, like any file
    the process creates (mkstemp's 0600 would need a chmod per file)."""
    # the pid asked each time (one cheap syscall next to open/write/rename): a
    # forked worker must not share its parent's names, and caching it would need
    # a process-wide fork hook registered at import
    prefix = os.path.join(directory, f".{name}.{os.getpid():x}-")
    while True:
        tmp = f"{prefix}{next(_temp_numbers):x}.tmp"
        try:
            return os.open(tmp, _OPEN_TEMP, 0o666), tmp
        except FileExistsError:
            continue  # left by a killed process that had our pid


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_bytes(path: str | os.PathLike, size: int | None = None) -> bytes:
    """The content of the regular file `path` (a link, FIFO or device is a
    UserError, see `safe_fs`); `size` is accepted for callers that know it."""
    return safe_fs.read_bytes(path)


def holds(path: str | os.PathLike, data: bytes, size: int | None = None) -> bool:
    """True if `path` is a regular file holding exactly `data`.  `size`, the file's size
    from a stat already made, skips the read when it alone tells them apart."""
    return safe_fs.holds(path, data, size)


def write_if_changed(path: str | os.PathLike, data: bytes) -> bool:
    """Atomically write `data` unless `path` already holds exactly it.

    Returns True when the file was written.  An unchanged file keeps its mtime,
    so nothing downstream of it re-runs.
    """
    if holds(path, data):
        return False
    atomic_write(path, data)
    return True


def dump_json(value: object) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, UTF-8, trailing newline.

    orjson writes the megabyte state files of a large pattern library 10x faster
    than `json.dumps` (which falls back to pure Python with `indent`; `python -m
    json.tool` shows them indented), byte for byte the same for what we store:
    str keys, ints, strings, lists, finite floats.  What orjson refuses (an int
    beyond 64 bits, a non-str key) takes the stdlib path.  Not NaN or infinities:
    orjson writes null for them, and no state holds one (pattern values are
    validated str/int/bool, metrics are measured durations)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return (json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                + "\n").encode()


def load_json(raw: bytes | str) -> object:
    """JSON text to Python: orjson (1.5x faster than `json.loads` on a megabyte
    state file), or the stdlib for what orjson refuses to read that json reads
    (NaN, numbers beyond 64 bits), so that nothing reads differently."""
    with gc_pause.decoding(len(raw)):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return json.loads(raw)


def write_json_if_changed(path: str | os.PathLike, value: object) -> bool:
    return write_if_changed(path, dump_json(value))


def remove_stale_temps(directory: str | os.PathLike) -> list[str]:
    """Delete temporary files an interrupted `atomic_write` left behind (never
    through a link: one inside `directory` is not entered)."""
    removed = []
    for entry in safe_fs.walk(directory):
        if entry.kind == safe_fs.FILE and entry.name.startswith(".") \
                and entry.name.endswith(".tmp") and safe_fs.unlink(entry.path):
            removed.append(entry.path)
    return removed
