"""Ctrl-C (SIGINT to doit's process group, as a terminal sends it), serial and
`-n 3`: finished tasks are recorded, interrupted ones are not marked done, the
exit code says the run was interrupted (130) and there is no traceback."""
from __future__ import annotations

import random
import shutil
import signal
import sys

import pytest

from tests.reliability.conftest import (kill_group, ran_records, run, set_conductor, spawn,
                                        stray_temps, wait_for)
from doit_conductor.profiling import store

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

SLOW_CHECK = f'".sql" = "{sys.executable} -c \'import time; time.sleep(0.4)\' {{file}}"'


def _check_running(pid: int) -> bool:
    """Whether a descendant of `pid` is the slow quality check."""
    import psutil
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return False
    for child in children:
        try:
            if "time.sleep(0.4)" in " ".join(child.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def codegen_statuses(run_dir) -> dict[str, str]:
    return {r.name: r.status for r in store.load_run(run_dir).tasks
            if r.name.startswith("codegen:") and r.name != "codegen:_manifest"}


@pytest.mark.parametrize("args", [(), ("-n", "3")], ids=["serial", "n3"])
def test_ctrl_c_records_finished_tasks_only(fresh, reference, args):
    # A cold build, with a slow quality check so that Ctrl-C lands inside codegen.
    shutil.rmtree(fresh.path("output"))
    shutil.rmtree(fresh.path(".conductor"))
    set_conductor(fresh, "checks", SLOW_CHECK)
    metrics = store.metrics_root(fresh.root)
    runs_before = len(store.list_runs(metrics))

    process = spawn(fresh, *args)
    try:
        # Ctrl-C while a codegen check runs, so that one task is inside its
        # action (between two tasks, none would be cut short).
        wait_for(lambda: len(store.list_runs(metrics)) > runs_before
                 and ran_records(fresh) >= 9 and _check_running(process.pid))
        kill_group(process, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        kill_group(process, signal.SIGKILL)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err, out + err
    assert err.count("\n") == 1 and err.startswith("doit: interrupted"), err

    interrupted_run = store.list_runs(metrics)[-1]
    assert store.load_run(interrupted_run).summary.completed is False
    first = codegen_statuses(interrupted_run)
    done = {name for name, status in first.items() if status == "ran"}
    cut = {name for name, status in first.items() if status == "failed"}
    assert done, first
    if not args:
        assert len(cut) == 1, first  # the one task running when Ctrl-C came
    for name in cut:
        record = next(r for r in store.load_run(interrupted_run).tasks if r.name == name)
        assert record.error == "interrupted before it finished"

    again = run(fresh, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    second = codegen_statuses(store.list_runs(metrics)[-1])
    assert all(second[name] == "up-to-date" for name in done), second
    assert all(second[name] == "ran" for name in cut), second
    assert fresh.tree() == reference.tree()
    assert stray_temps(fresh.path("output")) == []


def _processes_running(marker: str) -> list[int]:
    import psutil
    return [process.pid for process in psutil.process_iter(["cmdline"])
            if marker in " ".join(process.info["cmdline"] or [])]


@pytest.mark.parametrize("script", ["sleep {pause}", 'trap \\"\\" INT; sleep {pause}'],
                         ids=["a shell's child", "ignoring SIGINT"])
def test_ctrl_c_leaves_no_external_check_running(fresh, script):
    # External checks run while a pattern's other outputs are checked; a
    # Ctrl-C must end them with the run, a shell's child included.  One that
    # ignores SIGINT (as a shell between fork and exec of its command in
    # effect does) is killed by doit's process before it terminates the
    # workers, which would otherwise leave it running.
    shutil.rmtree(fresh.path("output"))
    shutil.rmtree(fresh.path(".conductor"))
    pause = f"{60 + random.random():.6f}"
    command = script.format(pause=pause)
    set_conductor(fresh, "checks", f'".sql" = "sh -c \'{command}\' {{file}}"')
    process = spawn(fresh, "-n", "3", "codegen")
    try:
        wait_for(lambda: _processes_running(pause))
        kill_group(process, signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 130, out + err
        assert "Traceback" not in out + err, out + err
        wait_for(lambda: not _processes_running(pause), timeout=10)
    finally:
        kill_group(process, signal.SIGKILL)


LINGERING_DODO = '''
import multiprocessing, signal, time

DOIT_CONFIG = {"reporter": "conductor"}

def linger(ready):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ready.set()
    time.sleep(4)

def start():
    # not a daemon: the interpreter joins it as it exits
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    context.Process(target=linger, args=(ready,)).start()
    # the Ctrl-C the test sends goes to the child too: only once it ignores it
    # (on a busy machine a child still starting up printed its own traceback)
    ready.wait(30)
    open("started", "w").close()
    time.sleep(60)

def task_wait():
    return {"actions": [start], "uptodate": [False]}
'''


def test_a_second_ctrl_c_while_the_run_exits_is_not_a_traceback(tmp_path):
    """After the first Ctrl-C the run says so and exits; a second one while the
    interpreter joins a process a task started used to end in multiprocessing's
    KeyboardInterrupt traceback."""
    import os
    import subprocess
    import time
    from tests.support.doit import child_env
    (tmp_path / "dodo.py").write_text(LINGERING_DODO)
    process = subprocess.Popen([sys.executable, "-m", "doit"], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=child_env(), start_new_session=True)
    try:
        wait_for(lambda: (tmp_path / "started").exists())
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(1.5)   # the run has ended; the interpreter joins the lingering child
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        kill_group(process, signal.SIGKILL)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err and "interrupted" in err, out + err
