"""Records against tasks whose resource use is known, serial and with -n 2."""
from __future__ import annotations

import pytest

from tests.profiling.conftest import MB, by_name

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

TRUTH_DODO = '''
import sys


MB = 1024 * 1024
PY = sys.executable

def allocate_200():
    block = bytearray(200 * MB)
    block[::4096] = b"\\x01" * (len(block) // 4096)  # touch every page
    del block

def write_50():
    chunk = b"x" * MB
    with open("fifty.bin", "wb") as out:
        for _ in range(50):
            out.write(chunk)

def nothing():
    pass

def burn(seconds):
    import time
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

CHILD_150 = ('b = bytearray(150 * 1024 * 1024); '
             'b[::4096] = bytes(len(b) // 4096); print(len(b))')
CHILD_CPU = ('import time; end = time.process_time() + 1.0\\n'
             'while time.process_time() < end: pass')

# Definition order is dispatch order: the long CPU task goes first so that
# with -n 2 the other worker runs allocate, then every no-op after it.
def task_cpu():
    return {"actions": [[PY, "-c", CHILD_CPU]]}

def task_allocate():
    return {"actions": [allocate_200]}

def task_noop():
    for i in range(3):
        yield {"name": str(i), "actions": [nothing], "task_dep": ["allocate"]}

def task_child():
    return {"actions": [f'"{PY}" -c "{CHILD_150}"'], "task_dep": ["noop"]}

def task_write():
    return {"actions": [write_50], "targets": ["fifty.bin"], "task_dep": ["noop"]}
'''


def within(value: float | None, truth: float, tolerance: float = 0.15) -> bool:
    return value is not None and abs(value - truth) <= tolerance * truth


@pytest.mark.parametrize("jobs", [(), ("-n", "2")], ids=["serial", "n2"])
def test_records_match_known_truth(dodo_project, jobs):
    dodo_project.write_dodo(TRUTH_DODO)
    result = dodo_project.doit("--reporter", "conductor", *jobs)
    assert result.returncode == 0, result.stdout + result.stderr
    records = by_name(dodo_project.last_run())

    allocate = records["allocate"]
    assert within(allocate.peak_rss_bytes, 200 * MB), allocate
    assert allocate.rss_base_bytes and allocate.rss_base_bytes < 200 * MB

    child = records["child"]
    assert within(child.peak_rss_bytes, 150 * MB), child
    assert child.peak_rss_children_bytes == child.peak_rss_bytes

    cpu = records["cpu"]
    assert within(cpu.cpu_user_s + cpu.cpu_sys_s, 1.0), cpu

    write = records["write"]
    assert within(write.io_write_bytes, 50 * MB), write

    for i in range(3):
        noop = records[f"noop:{i}"]
        assert noop.peak_rss_bytes is not None and noop.peak_rss_bytes < 4 * MB, noop
        assert noop.cpu_user_s < 0.1 and noop.io_write_bytes < 64 * 1024, noop
    # A no-op ran in the very process that had just held 200 MB: its small
    # figure shows the peak was reset, not the process's lifetime high-water mark.
    assert any(records[f"noop:{i}"].worker == allocate.worker for i in range(3))

    expected_mode = "process" if jobs else "serial"
    assert dodo_project.last_run().summary.parallel_type == expected_mode
    for record in records.values():
        assert record.measured_by == "proc+rusage"
        assert record.status == "ran"
        assert record.exit_status == 0
        if jobs:
            assert record.worker in (1, 2)
        else:
            assert record.worker == 0
