"""The probe in this process, and in a fresh interpreter where history matters."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

from tests.profiling.conftest import MB
from doit_conductor.profiling import counters, probe

linux_proc = pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                                reason="needs Linux /proc")


def _near(value, truth, tolerance=0.15):
    return value is not None and abs(value - truth) <= tolerance * truth


@linux_proc
def test_in_process_allocation_is_the_task_peak_then_resets():
    started = probe.start()
    block = bytearray(60 * MB)
    block[::4096] = b"\x01" * (len(block) // 4096)
    del block
    big = probe.stop(started)
    assert big.measured_by == probe.BY_PROC
    assert _near(big.peak_rss_bytes, 60 * MB)
    assert big.rss_base_bytes > 0 and big.peak_rss_children_bytes is None
    assert big.cpu_user_s + big.cpu_sys_s < big.wall_s + 0.05
    small = probe.stop(probe.start())
    assert small.peak_rss_bytes < 2 * MB  # not the 60 MB high-water mark


@pytest.mark.slow
@linux_proc
def test_child_peak_cpu_and_io_through_subprocess(tmp_path):
    code = ("b = bytearray(120 * 1024 * 1024); b[::4096] = bytes(len(b) // 4096)\n"
            "import time; end = time.process_time() + 0.3\n"
            "while time.process_time() < end: pass\n"
            f"open({str(tmp_path / 'out')!r}, 'wb').write(b'y' * 8 * 1024 * 1024)")
    started = probe.start()
    subprocess.run([sys.executable, "-c", code], check=True)
    measured = probe.stop(started)
    assert _near(measured.peak_rss_children_bytes, 130 * MB)
    assert measured.peak_rss_bytes == measured.peak_rss_children_bytes
    assert measured.cpu_user_s + measured.cpu_sys_s >= 0.3
    assert _near(measured.io_write_bytes, 8 * MB)


@pytest.mark.slow
@linux_proc
def test_child_reaped_by_poll_is_seen():
    # In a fresh interpreter: the children's peak is per process, and a bigger
    # child reaped earlier by this pytest process would hide this one's.
    script = textwrap.dedent("""
        import json, subprocess, sys
        from doit_conductor.profiling import probe
        started = probe.start()
        child = subprocess.Popen([sys.executable, "-c", "b = bytearray(100 * 1024 * 1024)"])
        while child.poll() is None:
            pass
        print(json.dumps(probe.stop(started).peak_rss_children_bytes))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    children = json.loads(out)
    assert children is not None and children > 90 * MB


@pytest.mark.slow
@linux_proc
def test_child_reaped_behind_popens_back_counts_when_it_sets_a_record():
    script = textwrap.dedent("""
        import os, sys, json
        from doit_conductor.profiling import probe
        started = probe.start()
        os.system(sys.executable + " -c 'b = bytearray(100 * 1024 * 1024)'")
        m = probe.stop(started)
        print(json.dumps([m.peak_rss_children_bytes, m.peak_rss_bytes]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    children, peak = json.loads(out)
    assert _near(children, 110 * MB) and peak == children


def test_counters_are_reset_and_collected():
    counters.add("stale", 5)
    started = probe.start()
    counters.add("hits", 2)
    counters.add("hits")
    counters.add("bytes", 1.5)
    measured = probe.stop(started)
    assert measured.counters == {"hits": 3, "bytes": 1.5}
    assert counters.snapshot() == {}


def test_thread_mode_measures_wall_time_only():
    started = probe.start(thread_mode=True)
    counters.add("files")
    measured = probe.stop(started, failed=True)
    assert measured.measured_by == probe.BY_WALL_ONLY
    assert measured.cpu_user_s is None and measured.peak_rss_bytes is None
    assert measured.io_read_bytes is None and measured.exit_status == 1
    assert measured.counters == {"files": 1} and measured.wall_s >= 0


def test_measurement_survives_pickling():
    measured = probe.stop(probe.start())
    assert pickle.loads(pickle.dumps(measured)) == measured


def test_exit_status():
    assert probe.exit_status(False, None) == 0
    assert probe.exit_status(False, 3 << 8) == 0
    assert probe.exit_status(True, None) == 1
    assert probe.exit_status(True, 0) == 1  # a Python action failed after a good command
    assert probe.exit_status(True, 3 << 8) == 3
    assert probe.exit_status(True, 9) == -9  # killed by SIGKILL


def test_counter_arguments_are_checked():
    with pytest.raises(TypeError):
        counters.add("", 1)
    with pytest.raises(TypeError):
        counters.add("x", True)
    with pytest.raises(TypeError):
        counters.add("x", "3")


class _CountingPsutil:
    """Stands in for psutil: counts how often the probe asks for the resident set."""

    def __init__(self) -> None:
        self.calls = 0

    def Process(self):   # noqa: N802 - psutil's name
        outer = self

        class _Process:
            def memory_info(self):
                outer.calls += 1
                return type("info", (), {"rss": 123 * MB})()
        return _Process()


def test_psutil_is_asked_per_task_only_when_memory_sampling_is(monkeypatch):
    """issue 24: per task a getrusage pair and the clocks; where there is no /proc,
    psutil's resident set only with [tool.conductor.metrics] sample_memory."""
    fake = _CountingPsutil()
    monkeypatch.setitem(sys.modules, "psutil", fake)
    monkeypatch.setattr(probe, "_clear_refs_works", False)   # as on macOS: no /proc
    try:
        measured = probe.stop(probe.start())
        assert fake.calls == 0 and measured.measured_by == probe.BY_RUSAGE
        assert measured.rss_base_bytes is None
        probe.configure(sample_memory=True)
        measured = probe.stop(probe.start())
        assert fake.calls >= 1 and measured.rss_base_bytes == 123 * MB
    finally:
        probe.configure(sample_memory=False)
