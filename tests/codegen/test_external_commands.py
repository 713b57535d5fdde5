"""Starting a configured external command (validate.start_command,
doit_conductor/interrupts.py) so that a Ctrl-C cannot leave it running after
the run."""
from __future__ import annotations

import os
import signal

import pytest

from doit_conductor import interrupts
from doit_conductor.codegen import validate

# these start processes
pytestmark = pytest.mark.slow

SIGINT_BIT = 1 << (signal.SIGINT - 1)


def _mask(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler, whatever pytest was started with (a
    background job starts with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_during_the_block_takes_effect_when_it_ends(python_sigint):
    reached_the_end = False
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            reached_the_end = True
    assert reached_the_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not signal.pthread_sigmask(signal.SIG_BLOCK, set()) & {signal.SIGINT}


def test_an_ignored_ctrl_c_stays_ignored(python_sigint):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_the_command_gets_sigint_unblocked_and_by_default(tmp_path, python_sigint):
    """Started while Ctrl-C is deferred, the command must still die of one."""
    with interrupts.deferred():
        running = validate.start_command("sleep 30", str(tmp_path / "x"), "check failed", "x")
    try:
        pid = running.process.pid
        assert not _mask(pid, "SigBlk") & SIGINT_BIT
        assert not _mask(pid, "SigIgn") & SIGINT_BIT
        os.kill(pid, signal.SIGINT)
        assert running.process.wait(timeout=10) == -signal.SIGINT
    finally:
        running.stop()

