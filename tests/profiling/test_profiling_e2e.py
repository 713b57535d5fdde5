"""The conductor reporter and the run command, end to end with the real doit."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.profiling.conftest import by_name
from tests.support.doit import spawn_doit
from doit_conductor.profiling import store
from tests.profiling.test_profiling_trace import assert_valid_trace

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

# An ordinary doit project that knows nothing of doit-conductor but for one
# task that reports its own counters.
INDEPENDENT_DODO = '''
from doit.exceptions import TaskFailed

def task_source():
    """cmd string: make a file."""
    return {"actions": ["echo hello > source.txt"], "targets": ["source.txt"],
            "file_dep": ["dodo.py"]}

def count(dependencies):
    text = open(dependencies[0]).read()
    return {"words": len(text.split())}

def task_count():
    """Python callable returning values for getargs."""
    return {"actions": [count], "file_dep": ["source.txt"]}

def report(words):
    with open("report.txt", "w") as out:
        out.write(f"words={words}\\n")

def task_report():
    """getargs from another task."""
    return {"actions": [report], "getargs": {"words": ("count", "words")},
            "targets": ["report.txt"]}

def shout(name):
    from doit_conductor.profiling import counters
    counters.add("greetings")
    counters.add("letters", len(name))
    print(name.upper())

def task_hello():
    """sub-tasks."""
    for name in ("ann", "bob"):
        yield {"name": name, "actions": [(shout, [name])], "verbosity": 2}

def wrong():
    return TaskFailed("patterns/x.yaml:3: unknown key 'nme'")

def task_wrong():
    """a user error: one-line TaskFailed."""
    return {"actions": [wrong], "task_dep": ["report"]}

def explode():
    raise RuntimeError("a real bug")

def task_explode():
    return {"actions": [explode]}

def task_after():
    """never runs: its dependency fails."""
    return {"actions": ["echo after"], "task_dep": ["wrong"]}
'''


def test_reporter_in_an_independent_project(dodo_project):
    dodo_project.write_dodo(INDEPENDENT_DODO)
    result = dodo_project.doit("--reporter", "conductor", "-c")
    out = result.stdout
    assert result.returncode == 2, out + result.stderr  # an error (exception) happened
    for task in ("source", "count", "report", "hello:ann", "hello:bob", "wrong", "explode"):
        assert f".  {task}\n" in out
    assert "ERROR: wrong: patterns/x.yaml:3: unknown key 'nme'\n" in out
    assert "TaskFailed - taskid:wrong" not in out
    # A real exception keeps doit's full report, traceback included.
    assert "TaskError - taskid:explode" in out and "RuntimeError: a real bug" in out
    assert "[1/" in out and "] source " in out
    # Quick tasks share the half-second progress slot; the last line says where it ended.
    assert "[9/9] run ended after " in out
    # The whole run in one closing line, and which tasks the failures stopped.
    assert "\nrun: 6 ran, 0 up to date, 0 cached, 2 failed, 1 not run in " in out
    assert out.endswith("\nfailed: wrong, explode\nnot run because of the failure: after\n")
    assert (dodo_project.path / "report.txt").read_text() == "words=1\n"

    run = dodo_project.last_run()
    records = by_name(run)
    assert {n: r.status for n, r in records.items()} == {
        "source": "ran", "count": "ran", "report": "ran", "hello:ann": "ran",
        "hello:bob": "ran", "hello": "ran", "wrong": "failed", "explode": "failed",
        "after": "not-run"}
    assert records["hello"].task_dep == ("hello:ann", "hello:bob")
    assert records["count"].file_dep == ("source.txt",)
    assert records["after"].task_dep == ("wrong",)
    assert records["hello:bob"].counters == {"greetings": 1, "letters": 3}
    assert records["wrong"].error == "TaskFailed: patterns/x.yaml:3: unknown key 'nme'"
    assert records["wrong"].exit_status == 1
    assert "RuntimeError: a real bug" in records["explode"].error
    assert run.summary.completed and run.summary.counts["failed"] == 2
    assert run.summary.counts["not-run"] == 1 and run.summary.totals["tasks"] == 9
    assert run.summary.doit_version == "0.37.0"
    assert run.summary.command[1:] == ("--reporter", "conductor", "-c")
    trace = json.loads((run.path / "trace.json").read_text())
    assert_valid_trace(trace)

    # Second run: up-to-date tasks shown as doit shows them, recorded as such.
    again = dodo_project.doit("--reporter", "conductor", "-c")
    assert "-- source\n" in again.stdout and "-- count\n" in again.stdout
    assert by_name(dodo_project.last_run())["source"].status == "up-to-date"

    # With earlier durations on record, progress lines carry an estimate.
    forced = dodo_project.doit("--reporter", "conductor", "-a", "source", "count", "report")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "[1/3] source" in forced.stdout and " left\n" in forced.stdout
    assert len(dodo_project.runs()) == 3


def test_cmd_action_failure_keeps_its_output_and_exit_status(dodo_project):
    dodo_project.write_dodo('''
        def task_fails():
            return {"actions": ["echo some output; exit 3"]}
    ''')
    result = dodo_project.doit("--reporter", "conductor")
    assert result.returncode == 1
    assert "ERROR: fails: Command failed: 'echo some output; exit 3' returned 3" in result.stdout
    assert "fails <stdout>:\nsome output" in result.stdout  # doit's captured-output block
    record = by_name(dodo_project.last_run())["fails"]
    assert record.status == "failed" and record.exit_status == 3


def test_parallel_tasks_overlap_on_different_workers(dodo_project):
    dodo_project.write_dodo('''
        import time

        def nap():
            time.sleep(0.6)

        def task_nap():
            for i in range(3):
                yield {"name": str(i), "actions": [nap]}

        def task_shell():
            for i in range(3):
                yield {"name": str(i), "actions": ["sleep 0.6"]}
    ''')
    result = dodo_project.doit("--reporter", "conductor", "-n", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    run = dodo_project.last_run()
    assert run.summary.workers == 3 and run.summary.parallel_type == "process"
    executed = [r for r in run.tasks if r.name.count(":")]
    assert {r.worker for r in executed} == {1, 2, 3}
    overlapping = [(a, b) for a in executed for b in executed
                   if a.name < b.name and a.start < b.end and b.start < a.end]
    assert len(overlapping) >= 3
    assert all(a.worker != b.worker for a, b in overlapping)
    trace = json.loads((run.path / "trace.json").read_text())
    assert_valid_trace(trace)
    rows = {e["tid"] for e in trace["traceEvents"] if e["ph"] == "X"}
    assert rows == {1, 2, 3}


def test_thread_mode_records_wall_time_only(dodo_project):
    dodo_project.write_dodo('''
        import time
        def nap():
            time.sleep(0.2)
        def task_t():
            for i in range(2):
                yield {"name": str(i), "actions": [nap]}
    ''')
    result = dodo_project.doit("--reporter", "conductor", "-n", "2", "-P", "thread")
    assert result.returncode == 0, result.stdout + result.stderr
    run = dodo_project.last_run()
    assert run.summary.parallel_type == "thread"
    for name in ("t:0", "t:1"):
        record = by_name(run)[name]
        assert record.measured_by == "wall-only (thread mode)"
        assert record.cpu_user_s is None and record.peak_rss_bytes is None
        assert 0.15 < record.wall_s < 5 and record.worker in (1, 2)


def test_other_reporters_see_doit_unchanged(dodo_project):
    dodo_project.write_dodo('''
        def task_a():
            return {"actions": ["echo a"], "verbosity": 2}
    ''')
    result = dodo_project.doit()  # doit's default reporter, through our `run`
    assert result.returncode == 0
    assert result.stdout == ".  a\na\n"
    assert not (dodo_project.path / ".conductor").exists()
    json_run = dodo_project.doit("--reporter", "json", "-a")
    assert json.loads(json_run.stdout)["tasks"][0]["name"] == "a"
    assert not (dodo_project.path / ".conductor").exists()


def test_keep_runs_from_pyproject(dodo_project):
    dodo_project.write_dodo('''
        def task_a():
            return {"actions": ["true"]}
    ''')
    (dodo_project.path / "pyproject.toml").write_text(
        "[tool.doit]\nreporter = 'conductor'\n\n[tool.conductor.metrics]\nkeep_runs = 2\n")
    for _ in range(4):
        assert dodo_project.doit("-a").returncode == 0
    runs = dodo_project.runs()
    assert len(runs) == 2
    assert store.load_run(runs[-1]).summary.completed


def _start(dodo_project, *args):
    return spawn_doit(dodo_project.path, *args, stderr=subprocess.STDOUT)


def _wait_for_records(dodo_project, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = dodo_project.runs()
        if runs and (runs[-1] / "tasks.jsonl").exists():
            if (runs[-1] / "tasks.jsonl").read_bytes().count(b"\n") >= count:
                return runs[-1]
        time.sleep(0.05)
    raise AssertionError("the run never recorded its first task")


def _wait_for_file(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)


SLOW_DODO = '''
    import time
    def nap():
        open("slow-started", "w").close()
        time.sleep(60)
    def task_quick():
        return {"actions": ["true"]}
    def task_slow():
        return {"actions": [nap], "task_dep": ["quick"]}
    def task_later():
        return {"actions": ["true"], "task_dep": ["slow"]}
'''


def test_killed_run_leaves_an_incomplete_run_directory(dodo_project):
    dodo_project.write_dodo(SLOW_DODO)
    process = _start(dodo_project, "--reporter", "conductor")
    try:
        run_dir = _wait_for_records(dodo_project, 1)
    finally:
        process.kill()
        process.communicate()
    # A write torn by the kill: half a line at the end.
    with open(run_dir / "tasks.jsonl", "ab") as handle:
        handle.write(b'{"name": "slow", "sta')
    run = store.load_run(run_dir)
    assert run.summary.completed is False
    assert [r.name for r in run.tasks] == ["quick"]
    assert not (run_dir / "trace.json").exists()


def test_records_before_a_long_task_are_on_disk_while_it_runs(dodo_project):
    # Records of up-to-date tasks are written in batches; a task starting
    # flushes them, so a kill during it loses none.
    dodo_project.write_dodo('''
        import time
        def nap():
            time.sleep(60)
        def task_done():
            return {"actions": ["true"], "uptodate": [True]}
        def task_slow():
            return {"actions": [nap], "task_dep": ["done"]}
    ''')
    process = _start(dodo_project, "--reporter", "conductor")
    try:
        run_dir = _wait_for_records(dodo_project, 1)
    finally:
        process.kill()
        process.communicate()
    assert [(r.name, r.status) for r in store.load_run(run_dir).tasks] == [("done", "up-to-date")]


def test_interrupted_run_says_so(dodo_project):
    dodo_project.write_dodo(SLOW_DODO)
    process = _start(dodo_project, "--reporter", "conductor")
    try:
        run_dir = _wait_for_records(dodo_project, 1)
        _wait_for_file(dodo_project.path / "slow-started")
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    finally:
        process.kill()
    run = store.load_run(run_dir)
    assert run.summary.completed is False and run.summary.end is not None
    statuses = {r.name: r.status for r in run.tasks}
    assert statuses == {"quick": "ran", "slow": "failed", "later": "not-run"}
    assert by_name(run)["slow"].error == "interrupted before it finished"
    assert_valid_trace(json.loads((run_dir / "trace.json").read_text()))


def test_after_a_failure_progress_lines_estimate_nothing(dodo_project):
    dodo_project.write_dodo('''
        def task_first():
            return {"actions": ["test ! -e fail"]}

        def task_second():
            return {"actions": ["sleep 0.6"]}

        def task_third():
            return {"actions": ["true"], "task_dep": ["first"]}

        def task_fourth():
            return {"actions": ["true"]}
        ''')
    first = dodo_project.doit("--reporter", "conductor")
    assert first.returncode == 0, first.stdout + first.stderr
    (dodo_project.path / "fail").write_text("")
    failed = dodo_project.doit("--reporter", "conductor", "-c", "-a")
    assert failed.returncode == 2, failed.stdout + failed.stderr   # doit: an error (unmet dependency)
    lines = [line for line in failed.stdout.splitlines() if line.startswith("[")]
    assert any(line.startswith("[2/4] second took ") for line in lines), failed.stdout
    assert not any("left" in line for line in lines), lines   # third will not run
    assert "run: 2 ran, 0 up to date, 0 cached, 1 failed, 1 not run in " in failed.stdout
    quiet = dodo_project.doit("--reporter", "conductor", "-v", "0", "-a")
    assert quiet.returncode == 1 and "run: " not in quiet.stdout


SETUP_DODO = '''
def task_env():
    """a setup task: doit runs it only for a task that is not up to date."""
    return {"actions": ["echo env"]}

def task_gen():
    for name in ("a", "b"):
        yield {"name": name, "actions": [f"echo {name} > {name}.txt"],
               "file_dep": ["dodo.py"], "targets": [f"{name}.txt"], "setup": ["env"]}
'''


def test_a_setup_task_no_task_needed_is_not_a_task_that_did_not_run(dodo_project):
    """Plain doit says nothing of a setup task whose tasks were up to date; the
    closing line used to count it "not run" and name it, in a run that
    succeeded."""
    dodo_project.write_dodo(SETUP_DODO)
    first = dodo_project.doit("--reporter", "conductor", "gen")
    assert first.returncode == 0 and "\nrun: 4 ran, 0 up to date" in first.stdout
    again = dodo_project.doit("--reporter", "conductor", "gen")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not run:" not in again.stdout and ", 0 not run in " in again.stdout
    assert "env" not in by_name(dodo_project.last_run())
