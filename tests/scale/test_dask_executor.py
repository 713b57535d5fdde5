"""`--executor dask` against real `dask scheduler` / `dask worker` processes on 127.0.0.1."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from pathlib import Path

from tests.support.projects import Project, copy_project
from tests.scale.dask_processes import start_cluster

pytestmark = [pytest.mark.scale, pytest.mark.slow]   # real processes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two workers, each worker in a directory other than the project."""
    running = start_cluster(tmp_path_factory.mktemp("dask"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def serial_build(tmp_path_factory) -> Project:
    serial = copy_project(tmp_path_factory.mktemp("serial") / "project")
    serial.doit("-n", "1", check=True)
    return serial


def test_the_test_cluster_listens_on_loopback_only(cluster):
    listening = cluster.listening()
    assert len(listening) >= 6, listening   # each process: its comm port and its HTTP port
    assert {address for address, _port in listening} == {"127.0.0.1"}, listening


def test_cold_build_on_the_cluster_equals_doit_n_1(cluster, serial_build, tmp_path):
    project = copy_project(tmp_path / "project")
    project.doit("-n", "2", "--executor", "dask", "--scheduler", cluster.address, check=True)
    assert project.tree() == serial_build.tree()
    records = project.last_run()
    assert {r.status for r in records.values()} <= {"ran", "up-to-date"}
    codegen = [r for n, r in records.items() if n.startswith("codegen:") and r.status == "ran"]
    # measured in the workers: their pids, the probe's figures
    assert {r.pid for r in codegen} <= set(cluster.worker_pids())
    assert all(r.host and r.cpu_user_s is not None and r.peak_rss_bytes is not None
               for r in codegen)
    again = project.doit("-n", "2", "--executor", "dask", "--scheduler", cluster.address,
                         check=True)
    assert project.did_nothing(again), again.stdout


def test_ship_mode_builds_the_same_without_the_workers_seeing_the_project(
        cluster, serial_build, tmp_path):
    project = copy_project(tmp_path / "project")
    project.doit("-n", "2", "--executor", "dask", "--ship", "--scheduler", cluster.address,
                 check=True)
    assert project.tree() == serial_build.tree()
    shipped = [r for n, r in project.last_run().items()
               if n.startswith("codegen:") and n != "codegen:_manifest"]
    assert shipped and {r.pid for r in shipped} <= set(cluster.worker_pids())
    # the batch records were re-recorded with this checkout's mtimes: nothing is stale
    again = project.doit("-n", "2", "--executor", "dask", "--ship",
                         "--scheduler", cluster.address, check=True)
    assert project.did_nothing(again), again.stdout


def test_the_workers_restore_hits_and_store_misses(cluster, tmp_path):
    store = f"file://{tmp_path / 'store'}"
    args = ("-n", "2", "--executor", "dask", "--scheduler", cluster.address, "--cache", store)
    first = copy_project(tmp_path / "a")
    result = first.doit(*args, "codegen", check=True)
    batches = len(list(first.path(".conductor/state/batches").glob("*.json")))
    assert f"action cache: 0 hits, {batches} misses" in result.stdout
    written = re.search(r"action cache: .*, ([\d.]+) KiB written", result.stdout)
    assert written and float(written.group(1)) > 0, result.stdout
    second = copy_project(tmp_path / "b")
    result = second.doit(*args, "codegen", check=True)
    assert f"action cache: {batches} hits, 0 misses" in result.stdout
    restored = [r for n, r in second.last_run().items() if r.status == "cached"]
    # looked up and restored on the workers: the store's round trips run there
    assert len(restored) == batches and {r.pid for r in restored} <= set(cluster.worker_pids())
    assert second.tree() == first.tree()
    shipped = copy_project(tmp_path / "c")   # no shared disk: hits travel back as targets
    result = shipped.doit(*args, "--ship", "codegen", check=True)
    assert f"action cache: {batches} hits, 0 misses" in result.stdout
    assert shipped.tree() == first.tree()
    # the client re-recorded the batch records with this checkout's mtimes: nothing is stale
    again = shipped.doit(*args, "--ship", "codegen", check=True)
    assert shipped.did_nothing(again), again.stdout
    # a damaged entry, found on a worker: a miss, and its warning on this console
    entry = next(p for p in (tmp_path / "store").rglob("*") if p.is_file())
    entry.write_bytes(entry.read_bytes()[:-1] + b"?")
    damaged = copy_project(tmp_path / "d")
    result = damaged.doit(*args, "codegen", check=True)
    assert f"action cache: {batches - 1} hits, 1 miss," in result.stdout
    assert result.stderr.count("is damaged") == 1, result.stderr
    assert damaged.tree() == first.tree()


def test_undeclared_write_under_ship_is_an_error_naming_the_file(cluster, tmp_path):
    project = _plain_project(tmp_path, '''
        def write_two():
            open("declared.txt", "w").write("yes")
            open("sneaky.txt", "w").write("no")

        def task_two():
            """writes one file more than it declares"""
            return {"actions": [write_two], "targets": ["declared.txt"],
                    "meta": {"conductor_ship": {"inputs": []}}}
    ''')
    result = project.doit("-n", "1", "--executor", "dask", "--ship",
                          "--scheduler", cluster.address)
    assert result.returncode == 1
    assert "undeclared file 'sneaky.txt'" in result.stdout + result.stderr
    assert not project.path("declared.txt").exists()


def test_failing_task_stops_the_run_with_doits_exit_code(cluster, tmp_path):
    serial = copy_project(tmp_path / "serial")
    remote = copy_project(tmp_path / "remote")
    for project in (serial, remote):
        pattern = project.path("patterns/currency.yaml")
        pattern.write_text(pattern.read_text() + "\nnme: oops\n")
    expected = serial.doit("-n", "1")
    result = remote.doit("-n", "2", "--executor", "dask", "--scheduler", cluster.address)
    assert expected.returncode != 0
    assert result.returncode == expected.returncode
    assert remote.statuses()["validate-patterns"] == "failed"
    assert not remote.path("output").exists()   # nothing after the failure ran


def test_first_failure_stops_dispatch_unless_continue(cluster, tmp_path):
    project = _plain_project(tmp_path, '''
        def task_a_fails():
            """fails"""
            return {"actions": [lambda: False]}

        def task_b_independent():
            """does not depend on a_fails"""
            return {"actions": ["echo b > b.txt"], "targets": ["b.txt"]}
    ''')
    args = ("-n", "1", "--executor", "dask", "--scheduler", cluster.address)
    assert project.doit(*args).returncode == 1
    assert not project.path("b.txt").exists()
    assert project.doit(*args[:2], "--continue", *args[2:]).returncode == 1
    assert project.path("b.txt").read_text().strip() == "b"


def test_n_bounds_how_many_tasks_run_at_once_on_a_larger_cluster(cluster, tmp_path):
    project = _plain_project(tmp_path, '''
        import os, time

        def spell(name):
            start = time.time()
            time.sleep(0.2)   # long enough for a second worker to overlap, if allowed
            with open(f"{name}.span", "w") as span:
                span.write(f"{start} {time.time()} {os.getpid()}")

        def task_spell():
            """four independent tasks"""
            for name in "abcd":
                yield {"name": name, "actions": [(spell, [name])], "targets": [f"{name}.span"]}
    ''')
    project.doit("-n", "1", "--executor", "dask", "--scheduler", cluster.address, check=True)
    spans = sorted(tuple(map(float, project.path(f"{n}.span").read_text().split()))
                   for n in "abcd")
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans


def test_output_of_tasks_comes_back_to_the_console(cluster, tmp_path):
    project = _plain_project(tmp_path, '''
        def task_hello():
            """prints on both streams"""
            return {"actions": ["echo out-from-worker", "echo err-from-worker 1>&2"],
                    "verbosity": 2}
    ''')
    result = project.doit("-n", "1", "--executor", "dask", "--scheduler", cluster.address,
                          check=True)
    assert "out-from-worker" in result.stdout and "err-from-worker" in result.stderr


def test_unreachable_scheduler_is_one_line_and_exit_3(tmp_path):
    project = copy_project(tmp_path / "project")
    pyproject = project.path("pyproject.toml")
    pyproject.write_text(pyproject.read_text() + "\n[tool.conductor.dask]\nconnect_timeout_s = 1\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]   # nobody listens here once closed
    result = project.doit("--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0], result.stderr
    # said at once, not after the client's retries: Dask alone would report a timeout
    assert "(connection refused)" in lines[0], result.stderr
    # Dask takes HOST:PORT as tcp://HOST:PORT; so does the quick answer
    result = project.doit("--executor", "dask", "--scheduler", f"127.0.0.1:{port}")
    assert result.returncode == 3
    assert "(connection refused)" in result.stderr, result.stderr


def test_options_that_need_the_dask_executor_are_refused_even_with_nothing_to_do(tmp_path):
    project = copy_project(tmp_path / "project")
    project.doit(check=True)
    assert project.did_nothing(project.doit(check=True))
    for options in (["--ship"], ["-n", "2", "--scheduler", "tcp://127.0.0.1:8786"]):
        result = project.doit(*options)
        assert result.returncode == 3, (options, result.stdout)
        assert result.stderr.strip() == "ERROR: --scheduler and --ship need --executor dask"


def test_workers_running_other_conductor_code_are_refused_before_any_task(cluster, tmp_path):
    from distributed import Client

    def pretend_older():   # what a worker started before an upgrade would report
        from doit_conductor.glue import dask_job
        dask_job.FINGERPRINT, previous = "older", dask_job.FINGERPRINT
        return previous

    project = copy_project(tmp_path / "project")
    with Client(cluster.address, set_as_default=False) as client:
        target = client.scheduler_info()["workers"]
        stale = sorted(target)[0]
        real = client.run(pretend_older, workers=[stale])[stale]
        try:
            result = project.doit("-n", "2", "--executor", "dask",
                                  "--scheduler", cluster.address)
        finally:
            client.run(lambda: setattr(__import__("doit_conductor.glue.dask_job",
                                                  fromlist=["x"]), "FINGERPRINT", real),
                       workers=[stale])
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and stale in lines[0] and "restart them" in lines[0], result.stderr
    assert not project.path("output").exists()


def test_a_copy_of_the_plugin_in_the_project_does_not_reach_the_local_workers(tmp_path):
    """A clone of this repository holds doit_conductor/ next to its dodo.py; the
    LocalCluster's workers must import the doit-conductor the client runs."""
    project = _plain_project(tmp_path, '''
        def task_one():
            """writes one file"""
            return {"actions": ["echo one > one.txt"], "targets": ["one.txt"]}
    ''')
    (project.root / "doit_conductor").mkdir()
    (project.root / "doit_conductor" / "__init__.py").write_text(
        "raise ImportError('the project copy was imported')\n")
    doit_script = str(Path(sys.executable).with_name("doit"))   # not -m: cwd not on sys.path
    result = subprocess.run([doit_script, "-n", "1", "--executor", "dask"], cwd=project.root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.path("one.txt").read_text().strip() == "one"


def test_local_cluster_started_for_the_run_builds_then_stops_even_unused(tmp_path):
    """Without --scheduler a LocalCluster starts in a thread while doit walks the
    tasks.  It builds; a run that sends it nothing (all up to date) ends too;
    no worker process outlives either run."""
    import psutil
    project = _plain_project(tmp_path, '''
        def task_one():
            """writes one file"""
            return {"actions": ["echo one > one.txt"], "file_dep": ["dodo.py"],
                    "targets": ["one.txt"]}
    ''')
    started = time.time()
    first = project.doit("-n", "2", "--executor", "dask")
    assert first.returncode == 0, first.stdout + first.stderr
    assert project.path("one.txt").read_text().strip() == "one"
    again = project.doit("-n", "2", "--executor", "dask")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "-- one" in again.stdout   # up to date: nothing was sent
    deadline = time.monotonic() + 10
    while True:
        left = [p.pid for p in psutil.process_iter(["cmdline", "create_time"])
                if p.info["create_time"] >= started - 1
                and "spawn_main" in " ".join(p.info["cmdline"] or ())]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == [], f"worker processes left running: {left}"


def test_killed_worker_means_the_task_reruns_elsewhere_never_half_a_target(tmp_path):
    own = start_cluster(tmp_path / "dask")
    try:
        project = _plain_project(tmp_path, '''
            import os, time

            def slow_write():
                with open("started.txt", "a") as marker:
                    marker.write(f"{os.getpid()}\\n")
                with open("big.txt", "w") as target:   # deliberately not atomic
                    target.write("a" * 100000)
                    target.flush()
                    time.sleep(4 if os.path.getsize("started.txt") < 10 else 0)
                    target.write("b" * 100000)

            def task_big():
                """writes its target in two halves, slowly"""
                return {"actions": [slow_write], "targets": ["big.txt"]}
        ''')
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        run = subprocess.Popen([sys.executable, "-m", "doit", "-n", "1", "--executor", "dask",
                                "--scheduler", own.address], cwd=project.root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        marker = project.path("started.txt")
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text().strip():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        os.kill(int(marker.read_text().split()[0]), signal.SIGKILL)
        out, err = run.communicate(timeout=120)
        pids = marker.read_text().split()
        if run.returncode == 0:
            assert len(pids) == 2 and pids[0] != pids[1]   # ran again, elsewhere
            assert project.path("big.txt").read_text() == "a" * 100000 + "b" * 100000
        else:   # a clean failure: the half-written target is gone
            assert "Dask could not run 'big'" in out + err
            assert not project.path("big.txt").exists()
    finally:
        own.stop()


def _plain_project(tmp_path, dodo: str) -> Project:
    """A doit project that is not a doit-conductor one (console reporter, no backend)."""
    root = tmp_path / "plain"
    root.mkdir()
    (root / "dodo.py").write_text(textwrap.dedent(dodo))
    return Project(root)
