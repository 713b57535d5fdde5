"""The repository run lock: one `doit run` at a time per project.

Two runs in one repository would both load the dependency DB, both write
`output/` and both save the DB at the end, the last one silently dropping what
the other recorded.  The `run` command therefore holds `.conductor/lock` (next
to the DB) from before the DB is opened until after it is saved.

The lock is `fcntl.flock` on that file: the kernel releases it when the holder
dies however it dies, so a lock left by a killed run is never "stale" in the
sense of blocking anyone.  The file also carries a one-line JSON record of the
holder (pid, host, start time, command) so a waiting run can say whom it waits
for.  The record is cleared only when a run ends normally; one still present
when the lock is free means the previous run was killed or interrupted, which
is reported in one line, and the temporary files its atomic writes may have
left in the lock's directory and in the output directory the workflow's last
plan wrote into are removed (no run is writing them: we hold the lock).

Only the process that took the lock holds it: forked `doit -n` workers close
their copy, so an orphaned worker can never keep a repository locked.

Settings: `[tool.conductor.lock] wait` (default true) and `timeout_s` (600);
the environment variables `CONDUCTOR_LOCK_WAIT` (0/1) and
`CONDUCTOR_LOCK_TIMEOUT` (seconds) override them for one invocation.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from doit_conductor.codec import from_json, to_json
from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import check_real_directory, remove_stale_temps

if TYPE_CHECKING:   # imported when the settings are read (see RunLock)
    from doit_conductor.config import LockSettings

LOCK_NAME = "lock"
ENV_WAIT = "CONDUCTOR_LOCK_WAIT"
ENV_TIMEOUT = "CONDUCTOR_LOCK_TIMEOUT"
POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or last held) the lock, as recorded in the lock file."""

    pid: int
    host: str
    started: float
    command: str

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M:%S")
        return f"pid {self.pid} on {self.host}, started {when}: {self.command}"


class LockBusy(UserError):
    """Another run holds the lock and this one may not (or no longer) wait."""


HOLDER_VERSION = 1


def holder_to_json(holder: Holder) -> dict:
    return to_json(holder, version=HOLDER_VERSION)


def holder_from_json(data: dict) -> Holder:
    return from_json(Holder, data, "lock holder", version=HOLDER_VERSION)


def read_holder(path: str | os.PathLike) -> Holder | None:
    """The record in the lock file; None if there is none or it is unreadable
    (a holder may be between truncating and writing it)."""
    try:
        fd = safe_fs.open_regular(path)
    except (OSError, UserError):
        return None
    try:
        raw = os.read(fd, 4096)
        return holder_from_json(json.loads(raw)) if raw.strip() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        os.close(fd)


def effective_settings(root: str | os.PathLike) -> tuple[LockSettings, str | None]:
    """`[tool.conductor.lock]` overridden by the environment, and the output
    directory the workflow's last plan wrote into (None in a project where no
    plan was recorded: its `output/`, if any, is the user's).  A broken
    pyproject.toml means the defaults (see `config.project_config`): task 2
    reports it properly."""
    from doit_conductor.config import LockSettings, project_config
    from doit_conductor.layout import CONDUCTOR
    from doit_conductor.state_files import planned_output_dir
    config = project_config(root)
    wait, timeout = _overridden(config.lock.wait, config.lock.timeout_s)
    output_dir = planned_output_dir(Path(root) / CONDUCTOR)
    return (LockSettings(wait=wait, timeout_s=timeout),
            None if output_dir is None else str(Path(root) / output_dir))


def _overridden(wait: bool, timeout: float) -> tuple[bool, float]:
    """`wait` and `timeout` as the environment overrides them (a timeout that is
    not a number is a UserError)."""
    if os.environ.get(ENV_WAIT, "").strip():
        wait = os.environ[ENV_WAIT].strip().lower() not in ("0", "false", "no", "off")
    if os.environ.get(ENV_TIMEOUT, "").strip():
        try:
            timeout = max(0.0, float(os.environ[ENV_TIMEOUT]))
        except ValueError:
            raise UserError(f"{ENV_TIMEOUT}={os.environ[ENV_TIMEOUT]!r} is not a number "
                            "of seconds") from None
    return wait, timeout


class RunLock:
    """`with RunLock(path, settings):` holds the repository lock for the block."""

    def __init__(self, path: str | os.PathLike, settings: LockSettings | None = None,
                 command: str = "", announce: Callable[[str], object] = lambda _: None,
                 output_dir: str | os.PathLike | None = None,
                 project: Callable[[], tuple[LockSettings, str]] | None = None) -> None:
        self.path = Path(path)
        self._settings, self._output_dir = settings, output_dir
        # (settings, output directory), asked only when the lock is busy or a
        # dead run's leftovers are cleared: reading [tool.conductor] imports and
        # validates the config, ~7 ms of every run's 0.15 s no-op otherwise
        self._project = project
        self.command = command or " ".join(["doit", *sys.argv[1:]])
        self._announce = announce
        self._fd: int | None = None

    def _resolve(self) -> None:
        if self._project is not None:
            self._settings, self._output_dir = self._project()
            self._project = None

    @property
    def settings(self) -> LockSettings:
        self._resolve()
        if self._settings is None:
            from doit_conductor.config import LockSettings
            self._settings = LockSettings()
        return self._settings

    @property
    def output_dir(self) -> str | os.PathLike | None:
        self._resolve()
        return self._output_dir

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        # Any end Python sees is an end: a usage error (`doit -n 3 codgen`), a
        # failed task, SystemExit.  Only an interrupt keeps the record, because
        # its workers may have been cut short mid-write; a killed run never gets
        # here, and the record it leaves is how the next run knows.
        self.release(clean=not (exc_type is not None and issubclass(exc_type, KeyboardInterrupt)))

    def acquire(self) -> None:
        check_real_directory(os.fspath(self.path.parent))
        try:
            # O_NOFOLLOW, never truncated on open: a lock file that is a link to
            # a file elsewhere is refused, not emptied (see `safe_fs.open_lock`)
            fd = safe_fs.open_lock(self.path)
        except OSError as exc:  # a read-only or foreign .conductor/
            raise UserError(f"cannot open the run lock: {exc.strerror}", str(self.path)) from None
        try:
            self._wait_for(fd)
            self._start_clean()
        except BaseException:
            os.close(fd)
            raise
        record = json.dumps(holder_to_json(Holder(os.getpid(), os.uname().nodename,
                                                  time.time(), self.command)))
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode() + b"\n", 0)
        except OSError:
            # A full disk: the record only serves messages, the flock is what
            # excludes other runs, so run on without it.
            os.ftruncate(fd, 0)
        self._fd = fd
        global _locker_pid
        _locker_pid = os.getpid()
        _close_in_forked_children(fd)

    def release(self, clean: bool = True) -> None:
        """Give the lock up; `clean=False` (an exception ends the run) keeps the
        record so the next run knows to clear what this one left half-done."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD.discard(fd)
        try:
            if clean:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def _start_clean(self) -> None:
        """Holding the lock, no other run is alive: anything in the scratch
        directory is a leftover of a killed one (emptied without following a
        link: a `.conductor/tmp` link is refused, not emptied).  The directory
        itself stays, so a clean start changes no listing the fast no-op watches."""
        safe_fs.empty(self.path.parent / "tmp")
        left = read_holder(self.path)
        if left is not None and left.pid != os.getpid():
            removed = self._clear_leftovers()
            self._announce(f"note: {self.path}: the previous run ({left.describe()}) did not "
                           f"finish (killed or interrupted); taking over the lock"
                           + (f", removed {removed} half-written temporary file(s)" if removed
                              else "") + "\n")

    def _clear_leftovers(self) -> int:
        """Temporary files of atomic writes a dead run left (see `fsio.atomic_write`)
        anywhere under the lock's directory (the DB, state/, cache/, noop/,
        metrics/) and the output directory.  An action store's own temporary
        files (`<key>.<id>.tmp`, no leading dot) are its writers' business."""
        removed = remove_stale_temps(self.path.parent)
        if self.output_dir is not None:
            try:
                removed += remove_stale_temps(self.output_dir)
            except UserError:
                pass  # an `output` link: the run refuses it where it writes
        return len(removed)

    def _wait_for(self, fd: int) -> None:
        if _try_lock(fd):
            return
        settings = self.settings
        holder = read_holder(self.path)
        who = holder.describe() if holder else "another doit"
        if not settings.wait or settings.timeout_s <= 0:
            raise LockBusy(f"another run holds the lock ({who}); not waiting "
                           f"([tool.conductor.lock] wait = false or {ENV_WAIT}=0)",
                           str(self.path))
        self._announce(f"waiting for {self.path}, held by {who} "
                       f"(up to {settings.timeout_s:g}s)\n")
        deadline = time.monotonic() + settings.timeout_s
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            if _try_lock(fd):
                return
        holder = read_holder(self.path) or holder
        who = holder.describe() if holder else "another doit"
        raise LockBusy(f"another run still holds the lock after {settings.timeout_s:g}s "
                       f"({who}); giving up", str(self.path))


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


# Descriptors of locks this process holds; a forked child (doit's -n workers)
# closes its copies so that only the process that took the lock keeps it alive.
_HELD: set[int] = set()
_locker_pid = 0   # the process that took the lock: a forked worker's parent
_fork_hook = False


def _close_in_forked_children(fd: int) -> None:
    """Remember `fd`; the fork hook is registered with the first lock taken, not
    at import, so a process that never locks never carries it."""
    global _fork_hook
    _HELD.add(fd)
    if not _fork_hook:
        os.register_at_fork(before=_load_prctl, after_in_child=_close_in_child)
        _fork_hook = True


_prctl = None


def _load_prctl() -> None:
    """Before a fork while holding the lock: load libc's prctl once in the parent,
    so that each of `-n 3`'s workers does not import ctypes itself (4-8 ms each,
    three workers competing for two cores just as their tasks start)."""
    global _prctl
    if _prctl is None and _HELD:
        try:
            import ctypes
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            _prctl = False


def _close_in_child() -> None:
    if _HELD:
        _die_with_parent()
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


def _die_with_parent() -> None:
    """A `-n` worker of a run (forked while the run holds the lock) asks the
    kernel for SIGKILL when its parent dies: a kill -9 of the main doit must not
    leave workers writing into output/ behind the next run's back.  Linux only
    (prctl PR_SET_PDEATHSIG); elsewhere the lock is the remaining guard."""
    parent = _locker_pid
    if not _prctl:
        return   # not Linux
    PR_SET_PDEATHSIG = 1
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


@contextlib.contextmanager
def run_lock(project_dir: str | os.PathLike, state_dir: str | os.PathLike,
             announce: Callable[[str], object] = lambda _: None) -> Iterator[RunLock]:
    """Hold `<state_dir>/lock` for a run of the project in `project_dir`;
    `announce` is told why the run waits, when it does."""
    _overridden(True, 0.0)   # a malformed override is an error even when the lock is free
    lock = RunLock(Path(state_dir) / LOCK_NAME, announce=announce,
                   project=functools.partial(effective_settings, project_dir))
    with lock:
        yield lock

