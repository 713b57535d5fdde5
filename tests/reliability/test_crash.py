"""Crash consistency: `doit` killed with SIGKILL at random moments of a cold
300-pattern build loses nothing and corrupts nothing.

The trials run `doit codegen` (tasks 1-8, the part that writes output/; the
publish tasks after it have their own tests).  After every kill: each generated file on disk is byte-identical to the clean
build's (never truncated, never half-written), the dependency DB verifies, and
the metrics directory reads back with the killed run marked incomplete.  The
next `doit` exits 0 with `output/` identical to a clean sequential build and no
temporary files left behind.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.projects import Project
from tests.reliability.conftest import (N_PATTERNS, REPO, kill_group, make_workspace, run,
                                        spawn, stray_temps, wait_for)
from doit_conductor.glue import backend
from doit_conductor.profiling import store

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

DEFAULT_TRIALS = 6
STRESS_TRIALS = 60
BUILD = ("codegen",)
REPO_DODO = REPO / "dodo.py"


@pytest.fixture(scope="session")
def cold_300(tmp_path_factory) -> tuple[Project, Project, float]:
    """(planned workspace, clean sequential build of it, seconds that build took)."""
    base = tmp_path_factory.mktemp("crash")
    planned = make_workspace(base / "planned", patterns=N_PATTERNS)
    result = run(planned, "plan-codegen")
    assert result.returncode == 0, result.stdout + result.stderr
    clean = make_workspace(base / "clean", patterns=N_PATTERNS)
    started = time.monotonic()
    result = run(clean, *BUILD)
    build_s = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(clean.tree()) >= 3 * N_PATTERNS  # endpoints make 3 files, the others 4
    return planned, clean, build_s


def assert_db_verifies(root: Path, where: str) -> None:
    """The conductor DB loads without being quarantined."""
    db = root / ".conductor" / "doit.db"
    if db.exists():
        backend.ConductorDB(str(db))
        assert not Path(f"{db}.corrupt").exists(), f"the dependency DB did not verify ({where})"


def newest_run_after_a_kill(project: Project, runs_before: int, reference: dict[str, str],
                            where: str) -> store.Run | None:
    """Every run reads back, and the newest one (if the killed `doit` got as far
    as starting one) tells the truth: incomplete, or completed with its work done.

    A run writes its summary with `completed: true` last, after the dependency
    DB is saved (doit's `Runner.finish` closes the DB, then the reporter's
    `complete_run` writes the summary), and only then releases the lock and
    exits.  A kill in that last stretch finds a run that did finish, so
    "completed" is then the truth, and this checks it is: the output is whole.
    Whether the process had exited before the kill cannot tell this apart (it
    races with the kill); the run's own record can.
    """
    runs = store.list_runs(store.metrics_root(project.root))
    for run_dir in runs:
        store.load_run(run_dir)  # raises RecordError if unreadable
    if len(runs) <= runs_before:
        return None  # killed before the reporter started a run
    newest = store.load_run(runs[-1])
    if newest.summary.completed:
        assert project.tree() == reference, \
            f"a run that says it completed left output unlike the clean build's ({where})"
        assert not any(t.status == "failed" for t in newest.tasks), where
    return newest


def crash_trial(planned: Project, clean: Project, build_s: float, target: Path,
                rng: random.Random, args: tuple[str, ...], from_scratch: bool,
                seed_note: str) -> float:
    shutil.copytree(planned.root, target, symlinks=True)
    project = Project(target)
    if from_scratch:
        shutil.rmtree(target / ".conductor")
    runs_before = len(store.list_runs(store.metrics_root(target)))
    reference = clean.tree()
    delay = rng.uniform(0.05, 0.9 * build_s)
    where = f"{seed_note}, kill at {delay:.2f}s"
    process = spawn(project, *args, *BUILD)
    time.sleep(delay)
    kill_group(process, signal.SIGKILL)
    process.communicate()

    output = target / "output"
    for path, digest in (project.tree() if output.exists() else {}).items():
        if path.endswith(".tmp"):
            continue  # an atomic write cut short: never seen under the real name
        assert digest == reference[path], f"{path} is not the clean build's after a {where}"
    assert_db_verifies(target, where)
    killed_run = newest_run_after_a_kill(project, runs_before, reference, where)

    result = run(project, *args, *BUILD)
    assert result.returncode == 0, f"{where}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, where
    assert project.tree() == reference, f"output differs after a {where}"
    assert stray_temps(output) == [], where
    assert_db_verifies(target, where)
    assert store.load_run(store.list_runs(store.metrics_root(target))[-1]).summary.completed, where
    if killed_run is not None and killed_run.summary.completed:
        # it said it completed: then its dependency DB was saved too, and this run
        # had nothing to do (the fast no-op leaves no record of its own, so the
        # newest record may be the killed run's: ask the run's own output first)
        again = {} if result.stdout.startswith("up to date: ") else {
            name: status for name, status in project.statuses().items()
            if status not in ("up-to-date", "ignored")}
        assert not again, f"{where}: the run said it completed, yet these ran again: {again}"
    shutil.rmtree(target)
    return delay


def run_trials(cold_300, tmp_path, trials: int, seed: int, parallel_every: int = 0) -> None:
    planned, clean, build_s = cold_300
    rngs = [random.Random(seed + trial) for trial in range(trials)]
    # Two trials at a time (one per core): a kill lands at a random moment
    # either way, and the suite stays well under a minute.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(crash_trial, planned, clean, build_s, tmp_path / f"trial{trial}",
                               rngs[trial],
                               ("-n", "2") if parallel_every and trial % parallel_every else (),
                               trial % 5 == 4, f"CRASH_SEED={seed} trial {trial}")
                   for trial in range(trials)]
        delays = [future.result() for future in futures]
    print(f"{trials} SIGKILL trials (seed {seed}, build {build_s:.2f}s): "
          + ", ".join(f"{d:.2f}" for d in delays))


def test_sigkill_at_random_moments_of_a_cold_build(cold_300, tmp_path):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    run_trials(cold_300, tmp_path, DEFAULT_TRIALS, seed)


@pytest.mark.stress
def test_sigkill_stress_serial_and_parallel(cold_300, tmp_path):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    run_trials(cold_300, tmp_path, STRESS_TRIALS, seed, parallel_every=2)


def test_what_a_killed_run_left_half_written_is_cleared(fresh):
    """A run that never released the lock (killed) leaves its holder record; the
    next run says so in one line and removes the temporary files of atomic
    writes the kill cut short, touching nothing else."""
    before = fresh.tree()
    fresh.path(".conductor/lock").write_text(
        '{"schema_version": 1, "pid": 999999, "host": "h", "started": 0, "command": "doit"}\n')
    planted = [fresh.path("output/python/conductor_models/.users.py.k3x9q0a1.tmp"),
               fresh.path("output/sql/.users.sql.abcdefgh.tmp"),
               fresh.path(".conductor/.doit.db.qwertyui.tmp"),
               fresh.path(".conductor/state/batches/.users.json.4321-0.tmp"),
               fresh.path(".conductor/noop/.snapshot.4321-1.tmp")]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a fi")
    result = run(fresh, *BUILD)
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [line for line in result.stderr.splitlines() if "pid 999999" in line]
    assert len(notes) == 1 and "did not finish" in notes[0] and "removed 5" in notes[0], \
        result.stderr
    assert not any(p.exists() for p in planted)
    assert fresh.tree() == before
    assert fresh.path(".conductor/lock").read_text() == ""  # released cleanly


def test_a_kill_after_the_run_ended_leaves_a_true_completed_summary(fresh):
    """The crash trials' race, made deterministic: `doit` killed after its run
    wrote `completed: true` but before the process exited (here held at exit
    by an atexit hook).  The summary may say completed because it is true: the
    output is whole, and the next run finds every task up to date (the
    dependency DB was saved before the summary)."""
    reference = fresh.tree()
    assert run(fresh, "forget", "--all").returncode == 0  # so the run has work to do
    with fresh.path("dodo.py").open("a") as dodo:
        dodo.write("\nimport atexit, time\natexit.register(time.sleep, 120)  # held at exit\n")
    runs_before = len(store.list_runs(store.metrics_root(fresh.root)))
    process = spawn(fresh, *BUILD)
    try:
        def ended() -> bool:
            runs = store.list_runs(store.metrics_root(fresh.root))
            return len(runs) > runs_before and store.load_run(runs[-1]).summary.completed
        wait_for(ended, timeout=120)
        assert process.poll() is None, "doit exited before the kill"
    finally:
        kill_group(process, signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    killed = newest_run_after_a_kill(fresh, runs_before, reference, "kill after the run ended")
    assert killed is not None and killed.summary.completed
    fresh.path("dodo.py").write_text(REPO_DODO.read_text())
    result = run(fresh, *BUILD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(fresh.statuses().values()) == {"up-to-date"}
    assert fresh.tree() == reference
