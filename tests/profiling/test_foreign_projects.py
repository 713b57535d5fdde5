"""Installing doit-conductor changes nothing in a doit project that does not select it.

Foreign projects here have their own `tasks.py` or `tasks/` package (a common
name) imported by their dodo.py.  Each command runs three ways: the installed
`doit` script and `python -m doit` (both with our plugins), and plain doit 0.37:
the same interpreter with doit's plugin discovery switched off
(`doit.plugin.entry_points_impl`, doit's own hook for it), which is exactly
doit without any installed plugin.  Output and exit codes must be identical.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.doit import child_env, default_sigint

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

# argv[0] is the name doit's messages use ("Type "doit help""): the reference
# gets the one of the way it is compared with.
PLAIN_DOIT = ("import sys\n"
              "sys.argv = sys.argv[1:]  # before doit reads its name from it\n"
              "import doit.plugin\n"
              "doit.plugin.entry_points_impl = lambda: (lambda group: ())\n"
              "from doit.doit_cmd import DoitMain\n"
              "sys.exit(DoitMain().run(sys.argv[1:]))\n")
DOIT_SCRIPT = str(Path(sys.executable).with_name("doit"))
WAYS = {"doit": [DOIT_SCRIPT],
        "python -m doit": [sys.executable, "-m", "doit"]}


def plain(way: str) -> list[str]:
    """Plain doit, started as `way` would be."""
    # `python -m doit` imports doit while runpy still has "-m" in argv[0]
    argv0 = DOIT_SCRIPT if way == "doit" else "-m"
    return [sys.executable, "-c", PLAIN_DOIT, argv0]

DODO = '''
from tasks import helper


def task_greet():
    """uses the project's own `tasks` helper"""
    return {"actions": [(helper, ["world"])], "verbosity": 2}

def task_shell():
    return {"actions": ["echo from the shell"], "task_dep": ["greet"]}

def boom():
    raise ValueError("the project's own failure")

def task_broken():
    return {"actions": [boom], "task_dep": ["shell"]}

def wait():
    open("started", "w").close()
    import time
    time.sleep(60)

def task_slow():
    return {"actions": [wait]}
'''
HELPER = '''
def helper(name):
    print(f"hello {name} from the project's tasks")
'''


def make_project(root: Path, layout: str) -> Path:
    root.mkdir()
    (root / "dodo.py").write_text(textwrap.dedent(DODO))
    if layout == "module":
        (root / "tasks.py").write_text(HELPER)
    else:
        (root / "tasks").mkdir()
        (root / "tasks" / "__init__.py").write_text(HELPER)
    return root


def run(command: list[str], cwd: Path, *args: str) -> tuple[int, str, str]:
    result = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120, env=child_env(), preexec_fn=default_sigint)
    return result.returncode, result.stdout, result.stderr


def fresh_copy(template: Path, where: Path) -> Path:
    """A pristine copy of the project at `where` (same path each time: tracebacks show it)."""
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(template, where)
    return where


ALL_ARGS = (("greet", "shell"), ("broken",), ("list",), ("nosuchtask",),
            ("--reporter", "json", "greet"))


@pytest.mark.parametrize("layout, arg_sets", [("module", ALL_ARGS), ("package", ALL_ARGS[:2])],
                         ids=["tasks.py", "tasks-package"])
def test_same_output_and_exit_codes_as_plain_doit(tmp_path, layout, arg_sets):
    template = make_project(tmp_path / "template", layout)
    for args in arg_sets:
        for way, command in WAYS.items():
            reference = run(plain(way), fresh_copy(template, tmp_path / "p"), *args)
            if args[0] == "greet":
                assert "hello world from the project's tasks" in reference[1]
            ours = run(command, fresh_copy(template, tmp_path / "p"), *args)
            if args[0] == "--reporter":  # json output carries timestamps: compare the rest
                assert ours[0] == reference[0] and ours[2] == reference[2], (way, args)
                continue
            assert ours == reference, (way, args)


def test_conductor_reporter_in_a_project_with_its_own_tasks_package(tmp_path):
    template = make_project(tmp_path / "template", "package")
    for way, command in WAYS.items():
        reference = run(plain(way), fresh_copy(template, tmp_path / "p"), "broken")
        code, out, err = run(command, fresh_copy(template, tmp_path / "p"),
                             "--reporter", "conductor", "broken")
        assert code == reference[0] == 2, (way, out, err)
        # doit's console lines, in order, with our progress lines between them
        ours = iter(out.splitlines())
        assert all(line in ours for line in reference[1].splitlines()), (way, out)
        assert (tmp_path / "p" / ".conductor" / "metrics").is_dir()


def interrupt(command: list[str], cwd: Path, *args: str) -> tuple[int, str, str]:
    """Start `slow`, Ctrl-C the process group once it runs, return code and output."""
    process = subprocess.Popen([*command, *args, "slow"], cwd=cwd, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=child_env(), preexec_fn=default_sigint,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (cwd / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


def test_ctrl_c_is_plain_doit_unless_the_conductor_reporter_is_selected(tmp_path):
    template = make_project(tmp_path / "template", "module")
    for way, command in WAYS.items():
        code, out, err = interrupt(plain(way), fresh_copy(template, tmp_path / "p"))
        assert code == -signal.SIGINT and err.rstrip().endswith("KeyboardInterrupt"), (code, err)
        ours = interrupt(command, fresh_copy(template, tmp_path / "p"))
        assert ours[0] == code and ours[1] == out, (way, ours)
        assert "Traceback" in ours[2] and ours[2].rstrip().endswith("KeyboardInterrupt"), ours
    code, out, err = interrupt(WAYS["doit"], fresh_copy(template, tmp_path / "conductor"),
                               "--reporter", "conductor")
    assert code == 130 and "Traceback" not in err, (code, err)
    assert err.startswith("doit: interrupted") and err.count("\n") == 1, err


def test_plain_doit_imports_nothing_of_ours_but_the_run_command(tmp_path):
    project = make_project(tmp_path / "project", "module")
    probe = ("import json, runpy, sys\n"
             "sys.argv = ['doit', 'greet']\n"
             "try:\n    runpy.run_module('doit', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('doit_conductor', 'xxhash', 'jinja2', 'psutil', 'yaml', 'resource'))))\n")
    code, out, err = run([sys.executable, "-c", probe], project)
    assert code == 0, err
    loaded = json.loads(out.splitlines()[-1])
    # the run command and the record of what it was asked to run, the stand-ins
    # doit lists as reporter and backend choices, the lock's switch and the
    # declaration of the command's options
    assert loaded == ["doit_conductor", "doit_conductor.errors", "doit_conductor.glue",
                      "doit_conductor.glue.plugins", "doit_conductor.glue.run_command",
                      "doit_conductor.glue.selection",
                      "doit_conductor.glue.state_lock", "doit_conductor.scale",
                      "doit_conductor.scale.run_options"]


# doit with our plugins on a platform without the POSIX-only modules (Windows).
WITHOUT_POSIX = ("import sys\n"
                 "sys.modules['fcntl'] = sys.modules['resource'] = None  # import fails\n"
                 "sys.argv = sys.argv[1:]\n"
                 "from doit.doit_cmd import DoitMain\n"
                 "sys.exit(DoitMain().run(sys.argv[1:]))\n")


def test_without_fcntl_and_resource_only_the_conductor_features_refuse(tmp_path):
    template = make_project(tmp_path / "template", "package")
    for args in (("greet", "shell"), ("list",), ("broken",)):
        reference = run(plain("doit"), fresh_copy(template, tmp_path / "p"), *args)
        ours = run([sys.executable, "-c", WITHOUT_POSIX, DOIT_SCRIPT],
                   fresh_copy(template, tmp_path / "p"), *args)
        assert ours == reference, args
    for option, module in ((("--reporter", "conductor"), "resource"),
                           (("--backend", "conductor"), "fcntl")):
        code, out, err = run([sys.executable, "-c", WITHOUT_POSIX, DOIT_SCRIPT],
                             fresh_copy(template, tmp_path / "p"), *option, "greet")
        assert code == 3 and "Traceback" not in err, (option, err)
        assert err.count("\n") == 1 and f"needs the `{module}` module" in err, err


@pytest.mark.parametrize("db", [".doit.db", "sub/dep.db"])
def test_the_conductor_backend_leaves_the_users_files_beside_its_db_alone(tmp_path, db):
    """With `--backend conductor` in a project of its own, the DB sits in the
    project's root (or wherever `--db-file` puts it): the lock, the scratch
    directory, the fast no-op's snapshot and the state-file check belong in a
    `.conductor` beside it, never in the user's `tmp/`, `state/`, `lock` or
    `noop`, even after a run that was killed (which clears leftovers)."""
    project = make_project(tmp_path / "project", "module")
    where = project / os.path.dirname(db)
    users = {"tmp/important.txt": "precious\n", "state/settings.json": '{"a": 1}\n',
             "lock": "mine\n", "noop": "my notes\n", "output/.draft.tmp": "half\n",
             ".conductor-notes.tmp": "kept\n"}
    for name, text in users.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text)
    args = ("--backend", "conductor", "--db-file", db, "greet")
    from doit_conductor.incremental import lock
    for round_ in range(3):
        code, _, err = run(WAYS["doit"], project, *args)
        assert code == 0, err
        assert "WARNING" not in err
        assert ("did not finish" in err) == (round_ == 1), err
        if round_ == 0:   # a run killed while holding the lock: its record stays
            (where / ".conductor" / "lock").write_text(json.dumps(lock.holder_to_json(
                lock.Holder(999_999_999, "elsewhere", 1.0, "doit"))) + "\n")
    for name, text in users.items():
        assert (where / name).read_text() == text, name
    assert (where / ".conductor" / "noop" / "snapshot").is_file()
