"""The one way the tests run the real `doit` (this interpreter's, with our plugins)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# The test being run, set by the root conftest: running doit from a test not
# marked `slow` is a mistake the `-m "not slow"` suite would pay for.
current_test: pytest.Item | None = None

LOCK_ENV = ("CONDUCTOR_LOCK_WAIT", "CONDUCTOR_LOCK_TIMEOUT")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a doit child: ours, minus what would change what it does.

    PYTHONPATH goes (the installed package, not this checkout by accident), and
    so do the lock overrides (a test asks for them explicitly, through `extra`).
    """
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    for key in LOCK_ENV:
        env.pop(key, None)
    env.update(extra)
    return env


def default_sigint() -> None:
    """preexec_fn: the usual SIGINT handling even if we were started with it
    ignored (shells start background jobs so, and children inherit it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def own_process_group() -> None:
    """preexec_fn: a process group of its own (a Ctrl-C sent to the group reaches
    doit and its workers, as from a terminal) and the usual SIGINT handling."""
    os.setsid()
    default_sigint()


def doit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "doit", *args]


def run_doit(cwd: Path, *args: str, timeout: float = 300, check: bool = False,
             env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run `doit args...` in `cwd` to the end; text output captured."""
    _require_slow()
    result = subprocess.run(doit_command(*args), cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=env or child_env(),
                            preexec_fn=default_sigint, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"doit {' '.join(args)} exited {result.returncode}\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def spawn_doit(cwd: Path, *args: str, env: dict[str, str] | None = None,
               stderr: int = subprocess.PIPE) -> subprocess.Popen:
    """Start `doit args...` in `cwd` in the background, in a process group of its own."""
    _require_slow()
    return subprocess.Popen(doit_command(*args), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, env=env or child_env(),
                            preexec_fn=own_process_group)


def _require_slow() -> None:
    if current_test is not None and current_test.get_closest_marker("slow") is None:
        raise AssertionError(f"{current_test.nodeid} runs doit in a subprocess: mark it "
                             "slow (a fixture of tests/conftest.py SLOW_FIXTURES, or "
                             "@pytest.mark.slow)")
