"""Measure one task where it runs: `started = start()`, run it, `stop(started, failed)`.

The probe runs in the process that executes the task's actions: doit's main
process in serial mode, a forked worker with `-n N` (process mode).  One task
runs at a time in such a process, so process-wide figures taken before and
after the task belong to that task:

* wall time: `time.monotonic()` delta; `start` is `time.time()` at the start.
* CPU: `getrusage(RUSAGE_SELF)` + `getrusage(RUSAGE_CHILDREN)` deltas, user and
  system separately.  RUSAGE_CHILDREN grows when a child is *reaped*, so it
  holds every child (and grandchild the child waited for) that the task started
  and waited for, e.g. all cmd-actions and `subprocess.run` calls.
* Peak memory (Linux): writing `5` to `/proc/self/clear_refs` resets the
  `VmHWM` high-water mark to the current resident set; `VmHWM` read at the end
  is then the peak *during the task*.  The task's own peak is its growth over
  the resident set at start (`rss_base_bytes`, the interpreter and doit
  themselves).  Children: `ru_maxrss` of RUSAGE_CHILDREN is a maximum over all
  children ever reaped and cannot be reset, so `subprocess.Popen` is made to
  reap with `os.wait4`, which gives each child's own peak (a shell's figure
  includes the commands it waited for; the hook is installed for the task's
  duration only, see `upstream.install_popen_reaper`).  Children reaped another way
  (`os.system`, a bare `os.waitpid`) are still seen when they raise the
  RUSAGE_CHILDREN maximum, whose new value is then exactly their peak; a
  smaller such child is missed.  Linux charges a child, until it calls exec,
  with the memory of its parent, so a child's figure is only its own when it
  exceeds the parent's peak during the task; smaller ones are dropped
  (`peak_rss_children_bytes` is None: every child stayed below the parent's
  resident set).  `peak_rss_bytes` is the larger of the task's in-process
  growth and its largest child: concurrent children are not summed.
* IO: `rchar`/`wchar` deltas of `/proc/self/io`: bytes passed to read/write
  style system calls by the process and by the children it reaped during the
  task.  That counts files whether or not the page cache served them, and also
  pipes, sockets and terminals (a cmd-action's captured output is counted when
  the child writes it and again when doit reads it).
* Counters: `doit_conductor.profiling.counters`, reset at start and collected at stop.

Without /proc (macOS, BSD) CPU is still exact; memory is exact only when the
task raised the process's lifetime `ru_maxrss`, otherwise the resident set at
the end (psutil, when installed) is reported as a lower bound; IO is `None`.
Thread mode (`-P thread`) shares one process between tasks, so only wall time
and counters are measured.  `Measurement.measured_by` names the method.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from doit_conductor import upstream
from doit_conductor.profiling import counters
from doit_conductor.profiling.clock import SYSTEM, Clock

try:
    import resource
except ImportError:  # not POSIX: profiled runs refuse to start (see probed_runners)
    resource = None

BY_PROC = "proc+rusage"
BY_RUSAGE = "rusage"
BY_WALL_ONLY = "wall-only (thread mode)"

# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the probe saw of one task (figures are None when not measured)."""

    start: float
    wall_s: float
    cpu_user_s: float | None
    cpu_sys_s: float | None
    peak_rss_bytes: int | None
    rss_base_bytes: int | None
    peak_rss_children_bytes: int | None
    io_read_bytes: int | None
    io_write_bytes: int | None
    exit_status: int
    worker_key: int
    measured_by: str
    counters: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Started:
    """Readings taken at task start (opaque to callers)."""

    mono: float
    epoch: float
    thread_mode: bool
    method: str
    clock: Clock = SYSTEM
    ru_self: resource.struct_rusage | None = None
    ru_children: resource.struct_rusage | None = None
    io: tuple[int, int] | None = None
    rss_base: int | None = None


class _ChildWatch:
    """Children reaped through subprocess.Popen while a task is measured."""

    __slots__ = ("peak", "last_status")

    def __init__(self) -> None:
        self.peak = 0
        self.last_status: int | None = None


# The watch of the task being measured in this process, if any.  Never set in
# thread mode, where several tasks share the process.
_watch: _ChildWatch | None = None
# Restores subprocess.Popen while the hook is installed: only during a task.
_undo_hook: Callable[[], None] | None = None
_clear_refs_works: bool | None = None  # decided on first use, per process


def start(*, thread_mode: bool = False, clock: Clock = SYSTEM) -> Started:
    """Take the readings that `stop` subtracts from; call just before the task.
    Wall time and the start are read from `clock` (the system's unless given)."""
    global _watch, _undo_hook
    counters.reset()
    if thread_mode:
        return Started(clock.monotonic(), clock.wall(), True, BY_WALL_ONLY, clock)
    _remove_child_hook()  # a previous start without stop must not stack hooks
    # Popen reaps with os.wait4 while the task runs, and only then: outside a
    # measured task the process keeps CPython's own Popen.
    _undo_hook = upstream.install_popen_reaper(_try_wait, _waitpid)
    _watch = _ChildWatch()
    method = BY_PROC if _reset_peak() else BY_RUSAGE
    started = Started(0.0, 0.0, False, method, clock,
                      resource.getrusage(resource.RUSAGE_SELF),
                      resource.getrusage(resource.RUSAGE_CHILDREN))
    if method == BY_PROC:
        # status before io, so the probe's own reads of status are not counted.
        started.rss_base = _read_resident()
        started.io = _read_io()
    else:
        started.rss_base = _psutil_rss()
    # Clocks last, so the readings above are not counted as the task's time.
    started.mono = clock.monotonic()
    started.epoch = clock.wall()
    return started


def stop(started: Started, *, failed: bool = False) -> Measurement:
    """Measure the task that ran since `start`; call just after it."""
    global _watch
    wall = started.clock.monotonic() - started.mono
    worker_key = threading.get_ident() if started.thread_mode else os.getpid()
    if started.thread_mode:
        return Measurement(started.epoch, wall, None, None, None, None, None, None, None,
                           int(failed), worker_key, started.method, counters.collect())
    watch, _watch = _watch, None
    _remove_child_hook()
    if started.method == BY_PROC:
        io_end = _read_io()
        self_peak = _read_status_kb(b"VmHWM:")
    else:
        self_peak, io_end = None, None
    ru_self = resource.getrusage(resource.RUSAGE_SELF)
    ru_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_self, before_children = started.ru_self, started.ru_children
    cpu_user = (ru_self.ru_utime - before_self.ru_utime
                + ru_children.ru_utime - before_children.ru_utime)
    cpu_sys = (ru_self.ru_stime - before_self.ru_stime
               + ru_children.ru_stime - before_children.ru_stime)
    if self_peak is None:
        self_peak = _rusage_self_peak(before_self, ru_self)
    children_peak = _children_peak(watch, before_children, ru_children, self_peak)
    growth = None
    if self_peak is not None and started.rss_base is not None:
        growth = max(0, self_peak - started.rss_base)
    peak = None
    if growth is not None or children_peak is not None:
        peak = max(growth or 0, children_peak or 0)
    io_read = io_write = None
    if started.io is not None and io_end is not None:
        io_read = io_end[0] - started.io[0]
        io_write = io_end[1] - started.io[1]
    return Measurement(
        start=started.epoch, wall_s=wall,
        cpu_user_s=max(0.0, cpu_user), cpu_sys_s=max(0.0, cpu_sys),
        peak_rss_bytes=peak, rss_base_bytes=started.rss_base,
        peak_rss_children_bytes=children_peak,
        io_read_bytes=io_read, io_write_bytes=io_write,
        exit_status=exit_status(failed, watch.last_status if watch else None),
        worker_key=worker_key, measured_by=started.method, counters=counters.collect())


def exit_status(failed: bool, last_child_status: int | None) -> int:
    """0 on success; a failed task's last child's exit code when it failed, else 1.

    A failing cmd-action is the last child doit reaped, so its return code (or
    minus the signal number that killed it) is what the task exited with.
    """
    if not failed:
        return 0
    if last_child_status is not None:
        code = os.waitstatus_to_exitcode(last_child_status)
        if code != 0:
            return code
    return 1


def _children_peak(watch: _ChildWatch | None, before: resource.struct_rusage,
                   after: resource.struct_rusage, parent_peak: int | None) -> int | None:
    """The largest child's own peak, or None when it cannot be told from the parent's.

    Linux charges a child, until it calls exec, with the memory of the process
    that started it (with vfork, as subprocess uses, the parent's high-water
    mark itself), so a child's ru_maxrss is max(that, the program's own peak).
    A figure above the parent's peak during the task is therefore the child's
    own; one at or below it is dropped (the child used at most that much).
    """
    peak = watch.peak if watch else 0
    # A child reaped behind Popen's back is still exact when it set a new record.
    if after.ru_maxrss > before.ru_maxrss:
        peak = max(peak, after.ru_maxrss * _MAXRSS_UNIT)
    if parent_peak is not None and peak <= parent_peak:
        return None
    return peak or None


def _rusage_self_peak(before: resource.struct_rusage, after: resource.struct_rusage) -> int | None:
    if after.ru_maxrss > before.ru_maxrss:
        return after.ru_maxrss * _MAXRSS_UNIT  # a new lifetime record: exact
    return _psutil_rss()  # lower bound: the record was set before this task


def _reset_peak() -> bool:
    """Reset this process's VmHWM; False where the kernel offers no way to."""
    global _clear_refs_works
    if _clear_refs_works is False:
        return False
    try:
        os.write(_proc.fd("clear_refs", os.O_WRONLY), b"5")
        if _clear_refs_works is None:
            _clear_refs_works = _read_status_kb(b"VmHWM:") is not None and _read_io() is not None
        return _clear_refs_works
    except OSError:
        _clear_refs_works = False
        return False


def _read_status_kb(key: bytes) -> int | None:
    try:
        data = _proc.read("status")
        at = data.index(key) + len(key)
        return int(data[at:data.index(b"kB", at)]) * 1024
    except (OSError, ValueError):
        return None


def _read_resident() -> int | None:
    # /proc/self/statm's second field is VmRSS in pages, at a quarter of status's cost.
    try:
        return int(_proc.read("statm").split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def _read_io() -> tuple[int, int] | None:
    try:
        words = _proc.read("io").split()
    except OSError:
        return None
    # The kernel's fixed order: rchar, wchar, syscr, syscw, read_bytes, ...
    if len(words) < 4 or words[0] != b"rchar:" or words[2] != b"wchar:":
        return None
    return int(words[1]), int(words[3])


class _ProcFiles:
    """/proc/self files kept open, re-read with pread: a quarter of open+read+close.

    "self" is resolved when a file is opened, so descriptors inherited across
    fork() describe the parent: they are replaced when the pid changes.  The
    descriptors are close-on-exec (Python's default), so children never see them.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._fds: dict[str, int] = {}

    def fd(self, name: str, flags: int = os.O_RDONLY) -> int:
        if self._pid != os.getpid():
            for inherited in self._fds.values():
                try:
                    os.close(inherited)
                except OSError:
                    pass
            self._fds = {}
            self._pid = os.getpid()
        fd = self._fds.get(name)
        if fd is None:
            fd = self._fds[name] = os.open(f"/proc/self/{name}", flags)
        return fd

    def read(self, name: str) -> bytes:
        return os.pread(self.fd(name), 16384, 0)


_proc = _ProcFiles()


def _psutil_rss() -> int | None:
    try:
        import psutil  # only where /proc gives nothing exact
    except ImportError:
        return None
    return psutil.Process().memory_info().rss


def _note_child(status: int, usage: resource.struct_rusage) -> None:
    watch = _watch
    if watch is not None:
        watch.peak = max(watch.peak, usage.ru_maxrss * _MAXRSS_UNIT)
        watch.last_status = status


def _try_wait(self: subprocess.Popen, wait_flags: int) -> tuple[int, int]:
    # Popen._try_wait with os.wait4, which also returns the child's rusage.
    try:
        pid, status, usage = os.wait4(self.pid, wait_flags)
    except ChildProcessError:
        return self.pid, 0  # as Popen does: SIGCHLD ignored, status unknown
    if pid:
        _note_child(status, usage)
    return pid, status


def _waitpid(pid: int, options: int) -> tuple[int, int]:
    # os.waitpid for Popen._internal_poll (poll(), and the final reap of some paths).
    got, status, usage = os.wait4(pid, options)
    if got:
        _note_child(status, usage)
    return got, status


def _remove_child_hook() -> None:
    global _undo_hook
    undo, _undo_hook = _undo_hook, None
    if undo is not None:
        undo()
