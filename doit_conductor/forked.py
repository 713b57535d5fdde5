"""Half of a CPU-bound step on the second core, in a forked child.

Threads do not help the steps that need it (stat sweeps, YAML parsing: the GIL
is held for most of their cost).  A forked child sees the parent's data as it
was at the fork (copy-on-write: nothing is sent to it) and answers with bytes
through a pipe, so the only costs are the fork and the answer's size.

The child never unwinds the parent's stack: interrupts are blocked in it and
it leaves by `os._exit` whatever happens, so no `finally`, `atexit` or buffered
output of the parent runs twice.  An answer that does not arrive whole (the
child was killed, raised, ran out of memory) is `None`: the caller does that
half itself.  Fork only from a process's main thread, with no other thread
that could hold a lock the child needs.
"""
from __future__ import annotations

import os
import signal
import struct
from collections.abc import Callable

_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
_LENGTH = struct.Struct("<Q")   # before the answer: a cut-off one is told apart


def available() -> bool:
    """Whether there is a second CPU to run a child on, and fork to start it."""
    if not hasattr(os, "fork"):
        return False
    # the CPUs this process may run on (macOS has no affinity: all of them)
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(
        os.cpu_count() or 1)
    return len(usable) >= 2


class Child:
    """A forked child computing one answer."""

    def __init__(self, pid: int, reader: int) -> None:
        self.pid, self.reader = pid, reader

    def answer(self) -> bytes | None:
        """The child's answer (waits for it), or None if it did not finish:
        not all of it arrived, or the child did not exit normally."""
        chunks = []
        try:
            while chunk := os.read(self.reader, 1 << 20):
                chunks.append(chunk)
        finally:
            finished = self._reap()
        data = b"".join(chunks)
        if not finished or len(data) < _LENGTH.size \
                or _LENGTH.unpack_from(data)[0] != len(data) - _LENGTH.size:
            return None
        return data[_LENGTH.size:]

    def cancel(self) -> None:
        """Stop the child unless its answer was read (then: nothing to do)."""
        if self.reader < 0:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        finally:
            self._reap()

    def _reap(self) -> bool:
        """Close the pipe and wait for the child; whether it exited with 0."""
        if self.reader < 0:
            return False
        os.close(self.reader)
        self.reader = -1
        try:
            return os.waitpid(self.pid, 0)[1] == 0
        except ChildProcessError:   # reaped by someone else (SIGCHLD ignored)
            return False


def start(work: Callable[[], bytes]) -> Child | None:
    """Run `work` in a forked child; None if no process could be forked."""
    reader, writer = os.pipe()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(reader)
        os.close(writer)
        return None
    if pid == 0:
        status = 1
        try:
            os.close(reader)
            answer = work()
            data = memoryview(_LENGTH.pack(len(answer)) + answer)
            while data:
                data = data[os.write(writer, data):]
            status = 0
        finally:
            os._exit(status)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    os.close(writer)
    return Child(pid, reader)
