"""A forked child's answer: whole, or None; never the parent's code run twice."""
from __future__ import annotations

import os

import pytest

from doit_conductor import forked

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def test_the_answer_arrives_whole_however_long():
    big = bytes(range(256)) * 40_000   # 10 MB: more than a pipe holds
    child = forked.start(lambda: big)
    assert child.answer() == big
    child.cancel()   # nothing left to stop


def test_a_child_that_raises_or_exits_answers_none(tmp_path):
    def raising() -> bytes:
        raise RuntimeError("in the child")

    child = forked.start(raising)
    assert child.answer() is None
    child = forked.start(lambda: os._exit(0))
    assert child.answer() is None


def test_the_parents_cleanup_does_not_run_in_the_child(tmp_path):
    marker = tmp_path / "cleanup"

    def raising() -> bytes:
        raise KeyboardInterrupt

    try:
        child = forked.start(raising)
        assert child.answer() is None
    finally:
        # the child left by os._exit: this ran once, in this process
        with open(marker, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    assert marker.read_text() == f"{os.getpid()}\n"


def test_a_cancelled_child_is_reaped():
    child = forked.start(lambda: __import__("time").sleep(30) or b"late")
    child.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_an_empty_answer_is_an_answer():
    assert forked.start(lambda: b"").answer() == b""
