"""Starting a command so that a Ctrl-C cannot leave it running after the run.

A Ctrl-C reaches every process of doit's process group, the commands a task
started included.  Two windows let one escape it: between fork and exec the
child still has this process's Python handler, which swallows the signal
before exec forgets it; and between starting a command and recording it
where a KeyboardInterrupt's clean-up stops it from.  `deferred` closes both:
the signal is blocked in this thread from before the fork, stays pending in
the child until `preexec` (its `preexec_fn`) restores the default action and
lets it through, and reaches this process's code when the block ends.  (doit's
process, for its part, kills what its workers started before it terminates
them: glue/worker_watch.py.)
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A Ctrl-C (SIGINT) during the block takes effect when it ends.  It is
    recorded, not only blocked: a doit worker has a second thread, which the
    kernel may deliver it to."""
    if threading.current_thread() is not threading.main_thread():
        yield   # signal handlers belong to the main thread
        return
    previous = signal.getsignal(signal.SIGINT)
    handled = previous not in (signal.SIG_IGN, None)
    caught: list = []
    if handled:
        signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if handled:
            signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, caught[0])
            else:   # SIG_DFL: die of it, as without the block
                os.kill(os.getpid(), signal.SIGINT)


def preexec() -> None:
    """preexec_fn, in the child before exec: SIGINT's default action (unless it
    is ignored, as a background job's is), then unblocked, so a Ctrl-C that
    arrived since the fork ends the child there."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
