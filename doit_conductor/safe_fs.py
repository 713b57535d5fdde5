"""The one way into the project's trees: never through a link, never into a FIFO.

Everything the workflow and the plugin open, list, stat, delete or chmod under
`output/`, `.conductor/`, `patterns/`, `templates/` or a local cache store goes
through here.  A path is resolved one component at a time from a directory
descriptor, each opened with `O_NOFOLLOW|O_DIRECTORY`, so a symbolic link
anywhere on the way (a committed `output` link, a planted
`.conductor/cache/actions/ab`) is refused with one line naming it instead of
being followed out of the project.  The last component is handled as what it
is: a link is deleted as a link, never listed or read through; a file is
opened `O_NOFOLLOW|O_NONBLOCK` and checked with `fstat`, so a FIFO or a device
is refused, never read (a read of a FIFO blocks, one of /dev/zero never ends).

Where the walk starts (the anchor) is the one thing followed:

* a relative path, or an absolute one inside the working directory (doit runs
  in the project directory), starts at the working directory: every component
  of the project part is checked;
* `root=` (a `--cache DIR` store the user named) starts at that directory, opened
  as given (the user's choice), and checks every component below it;
* any other absolute path (a report file the user asked for) starts at its
  parent directory, as given.

Pure descriptor plumbing: no policy about which files matter; callers decide.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from doit_conductor.errors import UserError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ANCHOR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LOCK = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

LINK_REFUSAL = ("is a symbolic link; refusing to follow it (output/, .conductor/ and the "
                "other project trees must be real directories)")
NOT_A_DIRECTORY = "is not a directory; refusing to use it as one"

FILE, DIRECTORY, LINK, OTHER = "file", "directory", "link", "other"

# Told the path of every directory listed here (`entries`, each directory of a
# `walk`): the fast no-op (glue/fast_noop.py) watches what a run listed,
# which it used to learn from os.scandir's path argument.  Empty unless a run
# is recording.
_LISTING_OBSERVERS: list[Callable[[str], None]] = []


@contextlib.contextmanager
def listings_observed(note: Callable[[str], None]) -> Iterator[None]:
    """Call `note(path)` for every directory this module lists while the block runs."""
    _LISTING_OBSERVERS.append(note)
    try:
        yield
    finally:
        _LISTING_OBSERVERS.remove(note)


@contextlib.contextmanager
def unobserved() -> Iterator[None]:
    """No listing in the block is told to `listings_observed`: bookkeeping of
    our own (the run records kept), which no task's verdict rests on."""
    observers = _LISTING_OBSERVERS[:]
    _LISTING_OBSERVERS.clear()
    try:
        yield
    finally:
        _LISTING_OBSERVERS[:] = observers


def describe(mode: int) -> str:
    """What a non-regular file is, in words (for a refusal)."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIRECTORY
    if stat.S_ISLNK(mode):
        return LINK
    return OTHER


def not_regular(path: str | os.PathLike, mode: int) -> UserError:
    """The refusal of `path`, found to be `mode` where a regular file belongs."""
    return UserError(f"is {describe(mode)}, not a regular file; refusing to use it",
                     os.fspath(path))


# -- resolving ------------------------------------------------------------------

def _anchor_and_parts(path: str, root: str | os.PathLike | None) -> tuple[str, list[str]]:
    """Where the walk starts (opened following links) and the components below
    it (each opened without)."""
    path = os.path.normpath(path)
    if root is not None:
        root = os.fspath(root)
        if os.path.isabs(path):
            relative = os.path.relpath(path, root)
        else:
            relative = path
        if relative == ".":
            return root, []
        if relative.startswith(".." + os.sep) or relative == "..":
            raise UserError(f"is outside {root}; refusing to use it", path)
        return root, relative.split(os.sep)
    if os.path.isabs(path):
        cwd = os.getcwd()
        if path == cwd:
            return ".", []
        if path.startswith(cwd.rstrip(os.sep) + os.sep):
            path = path[len(cwd.rstrip(os.sep)) + 1:]
        else:
            parent, name = os.path.split(path)
            return parent, [name] if name else []
    if path == ".":
        return ".", []
    parts = path.split(os.sep)
    # A relative path leading out of the working directory (`../shared-cache`):
    # the part above the project is the user's choice, like an absolute one.
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    if ups:
        return os.path.join(*parts[:ups]), parts[ups:]
    return ".", parts


def _open_anchor(anchor: str, create: bool) -> int:
    try:
        return os.open(anchor, _ANCHOR)
    except FileNotFoundError:
        if not create:
            raise
        os.makedirs(anchor, exist_ok=True)  # outside the project: the user's path
        return os.open(anchor, _ANCHOR)


def _descend(fd: int, name: str, shown: str, create: bool, mode: int) -> int:
    """The directory `name` below `fd`, opened without following a link."""
    for attempt in (0, 1):
        try:
            return os.open(name, _DIR, dir_fd=fd)
        except FileNotFoundError:
            if not create or attempt:
                raise
            try:
                os.mkdir(name, mode, dir_fd=fd)
            except FileExistsError:
                pass
        except (NotADirectoryError, OSError) as exc:
            if isinstance(exc, NotADirectoryError) or exc.errno == errno.ELOOP:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    raise UserError(LINK_REFUSAL, shown) from None
                raise UserError(NOT_A_DIRECTORY, shown) from None
            raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def directory(path: str | os.PathLike = ".", *, root: str | os.PathLike | None = None,
              create: bool = False, mode: int = 0o777) -> Iterator[int]:
    """A descriptor of the directory `path`, reached without following a link
    below its anchor (see the module docstring); `create` makes what is
    missing.  FileNotFoundError if it is missing; UserError naming the first
    component that is a link or not a directory."""
    fd = _open_path(os.fspath(path), root, create, mode)
    try:
        yield fd
    finally:
        os.close(fd)


# Directories kept open for the duration of a `batch()` in this thread.
_batch = threading.local()


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Within the block, each directory is resolved once and its descriptor
    reused: reading the thousand files of `output/` costs one openat per
    directory, not one per path component per file.  For short read-mostly
    passes (hashing the output tree): a directory replaced or removed during
    the block is seen as it was when first resolved (never through a link:
    the descriptor is of the real directory), and by the next block as it is."""
    if getattr(_batch, "dirs", None) is not None:
        yield
        return
    _batch.dirs = {}
    try:
        yield
    finally:
        dirs, _batch.dirs = _batch.dirs, None
        for fd in dirs.values():
            os.close(fd)


def _cached_dir(cache: dict, anchor: str, parts: tuple[str, ...], create: bool,
                mode: int) -> int:
    fd = cache.get((anchor, parts))
    if fd is None:
        if not parts:
            fd = _open_anchor(anchor, create)
        else:
            parent_fd = _cached_dir(cache, anchor, parts[:-1], create, mode)
            if parts[-1] in ("", "."):
                fd = os.dup(parent_fd)
            else:
                shown = os.path.join(*(() if anchor == "." else (anchor,)), *parts)
                fd = _descend(parent_fd, parts[-1], shown, create, mode)
        cache[(anchor, parts)] = fd
    return fd


def _open_path(path: str, root, create: bool, mode: int) -> int:
    anchor, parts = _anchor_and_parts(path, root)
    cache = getattr(_batch, "dirs", None)
    if cache is not None:
        return os.dup(_cached_dir(cache, anchor, tuple(parts), create, mode))
    fd = _open_anchor(anchor, create)
    shown = "" if anchor == "." else anchor
    try:
        for part in parts:
            shown = os.path.join(shown, part) if shown else part
            if part in ("", "."):
                continue
            child = _descend(fd, part, shown, create, mode)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def parent(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
           create: bool = False) -> Iterator[tuple[int, str]]:
    """(descriptor of the directory holding `path`, the last component's name)."""
    path = os.path.normpath(os.fspath(path))
    head, name = os.path.split(path)
    if name in ("", ".", ".."):
        raise UserError("names no file", path)
    with directory(head or ".", root=root, create=create) as fd:
        yield fd, name


# -- looking ---------------------------------------------------------------------

def lstat(path: str | os.PathLike, *, root: str | os.PathLike | None = None
          ) -> os.stat_result | None:
    """The lstat of `path` (a link is described, not followed); None if it, or a
    directory on the way, is missing."""
    try:
        if os.path.basename(os.path.normpath(os.fspath(path))) in ("", ".", ".."):
            with directory(path, root=root) as fd:   # `.`: the anchor itself
                return os.fstat(fd)
        fd, name, owned = _parent_fd(path, root)   # within a `batch()`: no openat
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        finally:
            if owned:
                os.close(fd)
    except (FileNotFoundError, NotADirectoryError):
        return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One name in a directory, as it is (a link is a link)."""

    name: str
    path: str
    kind: str      # FILE, DIRECTORY, LINK or OTHER
    info: os.stat_result   # the lstat the listing made (no second one needed)

    @property
    def size(self) -> int:
        return self.info.st_size

    @property
    def mtime(self) -> float:
        return self.info.st_mtime


def entries(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
            missing_ok: bool = True) -> list[Entry]:
    """The directory's entries, sorted by name, none followed (a name that
    vanishes while listing is left out)."""
    path = os.fspath(path)
    try:
        with directory(path, root=root) as fd:
            return _entries(fd, path, root)
    except FileNotFoundError:
        if missing_ok:
            return []
        raise


def names(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> list[str]:
    """The names in directory `path`, sorted, none followed and none stat-ed (a
    listing of 10,000 pattern files costs no 10,000 `lstat`s); [] if it is missing."""
    return sorted(_listed(path, root, os.listdir, []))


def unnoted_names(path: str | os.PathLike, *, root: str | os.PathLike | None = None
                  ) -> tuple[list[str], set[str]]:
    """The names in directory `path` as the file system lists them (unsorted),
    and which of them are symbolic links (by the listing's entry types: no
    stat), reached as `directory` reaches it, and not told to
    `listings_observed`: for the fast no-op's own sweep, which compares names
    and must not count as a listing the run made.  FileNotFoundError if it is
    missing."""
    with directory(path, root=root) as fd:
        names, links = [], set()
        with os.scandir(fd) as listing:
            for entry in listing:
                names.append(entry.name)
                if entry.is_symlink():
                    links.add(entry.name)
        return names, links


def lstats(path: str | os.PathLike, *, root: str | os.PathLike | None = None
           ) -> dict[str, os.stat_result]:
    """Each name in directory `path` with its own stat (a link's, not its
    target's), from one listing; {} if it is missing.  A name that vanishes
    while listing is left out."""
    return _listed(path, root, _lstats_at, {})


T = TypeVar("T")


def _listed(path: str | os.PathLike, root, read: Callable[[int], T], missing: T) -> T:
    """`read` of the descriptor of directory `path`, reached as `directory`
    reaches it, the listing noted; `missing` if there is no such directory."""
    path = os.fspath(path)
    try:
        with directory(path, root=root) as fd:
            _observed(path, root)
            return read(fd)
    except FileNotFoundError:
        return missing


def _lstats_at(fd: int) -> dict[str, os.stat_result]:
    found = {}
    with os.scandir(fd) as listing:
        for item in listing:
            try:
                found[item.name] = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
    return found


def _observed(shown: str, root) -> None:
    for observer in _LISTING_OBSERVERS:
        observer(shown if root is None else os.path.join(os.fspath(root), shown))


def _entries(fd: int, shown: str, root=None) -> list[Entry]:
    _observed(shown, root)
    return [Entry(name, os.path.join(shown, name), kind_of(info.st_mode), info)
            for name, info in sorted(_lstats_at(fd).items())]


def walk(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
         skip: frozenset[str] = frozenset()) -> Iterator[Entry]:
    """Every entry below the directory `path`, depth first, sorted; directories
    are entered (never through a link), names in `skip` are not.  Entry paths
    are `path`-joined.  Nothing if `path` is missing."""
    path = os.fspath(path)
    try:
        fd = _open_path(path, root, False, 0o777)
    except FileNotFoundError:
        return
    try:
        yield from _walk(fd, path, skip, root)
    finally:
        os.close(fd)


def _walk(fd: int, shown: str, skip: frozenset[str], root) -> Iterator[Entry]:
    for entry in _entries(fd, shown, root):
        if entry.name in skip:
            continue
        yield entry
        if entry.kind == DIRECTORY:
            try:
                child = _descend(fd, entry.name, entry.path, False, 0)
            except FileNotFoundError:
                continue
            try:
                yield from _walk(child, entry.path, skip, root)
            finally:
                os.close(child)


# -- reading ---------------------------------------------------------------------

def _parent_fd(path: str | os.PathLike, root, create: bool = False) -> tuple[int, str, bool]:
    """(descriptor of the directory holding `path`, the last name, whether the
    caller must close the descriptor): the hot path of `open_regular`, without
    a context manager, and within a `batch()` without any syscall."""
    path = os.fspath(path)
    head, name = os.path.split(path)
    cache = getattr(_batch, "dirs", None)
    if cache is not None and name not in ("", ".", ".."):
        fd = cache.get((head, root))
        if fd is None:
            anchor, parts = _anchor_and_parts(head or ".", root)
            fd = cache[(head, root)] = os.dup(
                _cached_dir(cache, anchor, tuple(parts), create, 0o777))
        return fd, name, False
    path = os.path.normpath(path)
    head, name = os.path.split(path)
    if name in ("", ".", ".."):
        raise UserError("names no file", path)
    return _open_path(head or ".", root, create, 0o777), name, True


def open_regular(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> int:
    """A read-only descriptor of the regular file `path`.  FileNotFoundError if
    missing; UserError if it is a link, a directory, a FIFO or a device (never
    opened for reading in a way that could block)."""
    fd, name, owned = _parent_fd(path, root)
    try:
        handle = os.open(name, _READ, dir_fd=fd)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                os.fspath(path)) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            raise not_regular(path, info.st_mode) from None
        raise
    finally:
        if owned:
            os.close(fd)
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode):
        os.close(handle)
        raise not_regular(path, info.st_mode)
    return handle


def read_bytes(path: str | os.PathLike, *, limit: int | None = None,
               root: str | os.PathLike | None = None) -> bytes:
    """The content of the regular file `path`, read to its end (a file that
    grows while read is read on); with `limit`, a UserError if it holds more
    than `limit` bytes (read no further than that)."""
    fd = open_regular(path, root=root)
    try:
        return read_fd(fd, path, limit)
    finally:
        os.close(fd)


def read_fd(fd: int, path, limit: int | None = None) -> bytes:
    """The rest of the regular file open at `fd` (see `read_bytes`)."""
    size = os.fstat(fd).st_size
    want = size + 1 if limit is None else min(size, limit) + 1
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, want)
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            raise UserError(f"is larger than {limit} bytes; refusing to read it",
                            os.fspath(path))
        if len(chunk) < want:   # a short read of a regular file is its end
            return b"".join(chunks)
        want = 1 << 20 if limit is None else min(1 << 20, limit - total + 1)


def read_text(path: str | os.PathLike, *, limit: int | None = None,
              root: str | os.PathLike | None = None) -> str:
    return read_bytes(path, limit=limit, root=root).decode("utf-8")


def holds(path: str | os.PathLike, data: bytes, size: int | None = None) -> bool:
    """True if `path` is a regular file holding exactly `data` (a link, a FIFO
    or a missing file holds nothing)."""
    if size is not None and size != len(data):
        return False
    try:
        fd = open_regular(path)
    except (OSError, UserError):
        return False
    try:
        # one byte more than `data`: a longer file reads long, a shorter one short
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


# -- changing --------------------------------------------------------------------

def unlink(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
           missing_ok: bool = True) -> bool:
    """Delete the file, link (as a link) or special file `path`; True if it was
    there.  IsADirectoryError for a directory."""
    try:
        with parent(path, root=root) as (fd, name):
            try:
                os.unlink(name, dir_fd=fd)
            except PermissionError:
                # unlink(2) on a directory is EISDIR on Linux, EPERM elsewhere
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "Is a directory",
                                            os.fspath(path)) from None
                raise
            return True
    except (FileNotFoundError, NotADirectoryError):
        if missing_ok:
            return False
        raise


def rmdir(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> bool:
    """Remove the empty directory `path`; False if it is missing or not empty."""
    try:
        with parent(path, root=root) as (fd, name):
            os.rmdir(name, dir_fd=fd)
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
            return False
        raise


def remove(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> bool:
    """Delete `path` whatever it is: a directory with everything in it (links
    inside are deleted as links, never followed), anything else as itself.
    True if something was there."""
    try:
        with parent(path, root=root) as (fd, name):
            _remove_at(fd, name)
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def _remove_at(fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=fd)
        return
    except IsADirectoryError:
        pass
    except PermissionError:
        if not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            raise
    try:
        child = os.open(name, _DIR, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # replaced by a link meanwhile
            os.unlink(name, dir_fd=fd)
            return
        raise
    try:
        _empty_fd(child)
    finally:
        os.close(child)
    os.rmdir(name, dir_fd=fd)


def _empty_fd(fd: int) -> None:
    with os.scandir(fd) as listing:
        names = [item.name for item in listing]
    for name in names:
        try:
            _remove_at(fd, name)
        except FileNotFoundError:
            pass


def empty(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> None:
    """Delete everything inside the directory `path` (links as links); the
    directory itself stays.  Nothing to do if it is missing."""
    try:
        with directory(path, root=root) as fd:
            _empty_fd(fd)
    except FileNotFoundError:
        pass


def make_dirs(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
              mode: int = 0o777) -> None:
    """Create the directory `path` and what is missing above it (a link on the
    way is refused, never followed)."""
    with directory(path, root=root, create=True, mode=mode):
        pass


def chmod_dir(path: str | os.PathLike, mode: int, *, root: str | os.PathLike | None = None
              ) -> os.stat_result:
    """Set the mode of the directory `path` itself (never of what a link at its
    place leads to); returns its stat after the change."""
    with directory(path, root=root) as fd:
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
        return os.fstat(fd)


def stat_dir(path: str | os.PathLike, *, root: str | os.PathLike | None = None
             ) -> os.stat_result:
    """The stat of the directory `path` (a link at its place is refused)."""
    with directory(path, root=root) as fd:
        return os.fstat(fd)


def open_lock(path: str | os.PathLike, mode: int = 0o644) -> int:
    """A read-write descriptor of the lock file `path`, created if missing and
    never truncated here; UserError if a link or anything but a regular file
    stands there, or a file with other hard links (a link to a file elsewhere,
    symbolic or hard, must not be truncated or written)."""
    with parent(path, create=True) as (fd, name):
        try:
            handle = os.open(name, _LOCK, mode, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                raise not_regular(path, info.st_mode) from None
            raise
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode):
        os.close(handle)
        raise not_regular(path, info.st_mode)
    if info.st_nlink > 1:
        os.close(handle)
        raise UserError(f"has {info.st_nlink - 1} other hard link(s), which may be files "
                        "outside the project: refusing to write it; remove it", os.fspath(path))
    return handle
