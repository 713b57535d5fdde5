"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes on
127.0.0.1, each worker in a directory of its own, all stopped by the fixture.

`--no-dashboard` alone still leaves each process an HTTP server (health and
metrics routes) on 0.0.0.0 (the scheduler's on port 8787), so every process is
also given a loopback `--dashboard-address` on a free port."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))
LOOPBACK_ANY_PORT = "127.0.0.1:0"


@dataclass
class DaskCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.poll() is None]

    def listening(self) -> list[tuple[str, int]]:
        """Every (address, port) the scheduler and the workers listen on."""
        import psutil
        found = []
        for process in (self.scheduler, *self.workers):
            if process.poll() is None:
                info = psutil.Process(process.pid)
                # net_connections since psutil 6; connections before (5.9 is allowed)
                sockets = getattr(info, "net_connections", None) or info.connections
                found += [tuple(c.laddr) for c in sockets("tcp") if c.status == psutil.CONN_LISTEN]
        return found

    def stop(self) -> None:
        """Workers first (a scheduler going first makes them retry), then the
        scheduler; whatever does not exit within a few seconds is killed."""
        for group in (self.workers, [self.scheduler]):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_cluster(base: Path, workers: int = 2) -> DaskCluster:
    """Scheduler on a free loopback port; `workers` single-threaded workers without
    a nanny (a killed worker stays dead), each in `base/worker-<i>`."""
    base.mkdir(parents=True, exist_ok=True)
    scheduler_file = base / "scheduler.json"
    log = open(base / "scheduler.log", "wb")
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--dashboard-address", LOOPBACK_ANY_PORT,
         "--scheduler-file", str(scheduler_file)], stdout=log, stderr=log, cwd=base)
    cluster = DaskCluster("", scheduler)
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {(base / 'scheduler.log').read_text()}")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written before it is complete on slow machines
        cluster.address = json.loads(scheduler_file.read_text())["address"]
        for index in range(workers):
            directory = base / f"worker-{index}"
            directory.mkdir()
            worker_log = open(directory / "worker.log", "wb")
            cluster.workers.append(subprocess.Popen(
                [DASK, "worker", cluster.address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--dashboard-address", LOOPBACK_ANY_PORT,
                 "--local-directory", str(directory)],
                stdout=worker_log, stderr=worker_log, cwd=directory,
                env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")))
        _wait_for_workers(cluster.address, workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client
    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=60)
