"""The fast no-op through the real `doit`: when it is taken, every case where it
must not be, and every real change it must see."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.doit import run_doit

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

PYPROJECT = """\
[tool.doit]
dep_file = ".conductor/doit.db"
backend = "conductor"
"""

DODO = """\
from doit.tools import config_changed, run_once, timeout


def write(target):
    with open(target, "w") as handle:
        handle.write(open("in.txt").read())


def reads_flag():
    return open("flag.txt").read() == "ok"


def declared():
    return open("flag.txt").read() == "ok"


declared.snapshot_paths = lambda: ["flag.txt"]


def task_copy():
    \"\"\"in.txt -> out.txt\"\"\"
    return {{"actions": [(write, ["out.txt"])], "targets": ["out.txt"], {extra}}}


def task_other():
    \"\"\"a second task, to select one of two\"\"\"
    return {{"actions": [(write, ["other.txt"])], "file_dep": ["in.txt"],
             "targets": ["other.txt"]}}
"""

FILE_DEP = '"file_dep": ["in.txt"]'


def doit(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_doit(root, *args, timeout=120, check=True)


def fast(result: subprocess.CompletedProcess) -> bool:
    return result.stdout.startswith("up to date: ")


def declined(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines()
             if line.startswith("fast no-op not taken: ")]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("fast no-op not taken: ")


def ran(result: subprocess.CompletedProcess) -> list[str]:
    return [line[3:] for line in result.stdout.splitlines() if line.startswith(".  ")]


def mini(tmp_path: Path, extra: str = FILE_DEP) -> Path:
    root = tmp_path / "mini"
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "dodo.py").write_text(DODO.format(extra=extra))
    (root / "in.txt").write_text("hello\n")
    (root / "flag.txt").write_text("ok")
    return root


def test_second_run_is_fast_and_says_so(tmp_path):
    root = mini(tmp_path)
    assert "no snapshot" in declined(doit(root, "-v", "2"))
    result = doit(root)
    assert result.stdout.startswith("up to date: 2 tasks, checked in ") and ran(result) == []
    quiet = doit(root, "-v", "0")   # quiet, as a run's closing line is at -v 0
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


@pytest.mark.parametrize("extra, reason", [
    (f'{FILE_DEP}, "uptodate": [reads_flag]',
     "task copy: uptodate reads_flag does not declare the files it reads"),
    (f'{FILE_DEP}, "uptodate": [run_once]', "task copy uses run_once"),
    (f'{FILE_DEP}, "uptodate": [timeout(3600)]', "task copy uses timeout"),
    (f'{FILE_DEP}, "uptodate": [False]', "task copy has uptodate False: it always runs"),
    ('"uptodate": []', "task copy is not up to date at the end of the run"),   # no file deps
])
def test_tasks_judged_by_more_than_files_always_take_the_walk(tmp_path, extra, reason):
    root = mini(tmp_path, extra)
    first = doit(root, "-v", "2")
    assert f"fast no-op not recorded for the next run: {reason}" in first.stderr
    second = doit(root, "-v", "2")
    assert reason in declined(second) and not fast(second)


def test_a_declared_callable_uptodate_takes_the_fast_path_and_its_file_is_watched(tmp_path):
    root = mini(tmp_path, f'{FILE_DEP}, "uptodate": [declared, config_changed("v1")]')
    doit(root)
    assert fast(doit(root))
    (root / "flag.txt").write_text("changed")
    result = doit(root, "-v", "2")
    assert declined(result) == "flag.txt changed since the last run" and ran(result) == ["copy"]


MEDDLING = """\
CALLS = []


def copy(source, target):
    with open(target, "w") as handle:
        handle.write(open(source).read())


def meddles_late():
    \"\"\"Up to date; on its second ask in a process (the recording's re-check,
    after that has swept the stats and judged task `first`) rewrites first.txt.\"\"\"
    CALLS.append(1)
    if len(CALLS) == 2:
        with open("first.txt", "a") as handle:
            handle.write("late\\n")
    return True


meddles_late.snapshot_paths = lambda: []


def task_first():
    return {"actions": [(copy, ["first.txt", "first.out"])], "file_dep": ["first.txt"],
            "targets": ["first.out"]}


def task_second():
    return {"actions": [(copy, ["second.txt", "second.out"])], "file_dep": ["second.txt"],
            "uptodate": [meddles_late], "targets": ["second.out"]}
"""


def test_a_file_changed_while_the_run_records_its_snapshot_is_seen_by_the_next(tmp_path):
    root = mini(tmp_path)
    (root / "dodo.py").write_text(MEDDLING)
    for name in ("first.txt", "second.txt"):
        (root / name).write_text("hello\n")
    doit(root)
    assert (root / "first.txt").read_text() == "hello\nlate\n"
    result = doit(root, "-v", "2")
    assert declined(result) == "first.txt changed since the last run" and ran(result) == ["first"]
    assert (root / "first.out").read_text() == "hello\nlate\n"


UNDECLARED = """\
def copy(source, target):
    with open(target, "w") as handle:
        handle.write(open(source).read())


def copy_and_note(source, target):
    copy(source, target)
    with open("side.txt", "a") as handle:   # written, not declared a target
        handle.write("noted\\n")


def task_first():
    return {"actions": [(copy_and_note, ["first.txt", "first.out"])],
            "file_dep": ["first.txt"], "targets": ["first.out"]}


def task_second():
    return {"actions": [(copy, ["side.txt", "second.out"])], "file_dep": ["side.txt"],
            "targets": ["second.out"]}
"""


def test_the_recording_sweeps_where_tasks_wrote_and_an_undeclared_write_costs_one_walk(tmp_path):
    """After a run that executed tasks, the recording stats again only what
    they declared (and directories): a file a task wrote without declaring it
    keeps the stat the run's check found, which the next check sees moved."""
    root = mini(tmp_path)
    (root / "dodo.py").write_text(UNDECLARED)
    (root / "first.txt").write_text("hello\n")
    doit(root)
    assert fast(doit(root))
    (root / "first.txt").write_text("changed\n")
    result = doit(root, "-v", "2")
    assert declined(result) == "first.txt changed since the last run"
    assert ran(result) == ["first", "second"]   # doit saw side.txt change within the run
    result = doit(root, "-v", "2")
    assert declined(result) == "side.txt changed since the last run" and ran(result) == []
    assert fast(doit(root))
    assert (root / "second.out").read_text() == "noted\nnoted\n"


def test_after_a_task_that_declares_no_targets_the_recording_sweeps_every_path(tmp_path):
    """Nothing says where such a task wrote: the next run is a no-op as before."""
    root = mini(tmp_path)
    (root / "dodo.py").write_text(UNDECLARED.replace('"targets": ["first.out"]', '"verbosity": 0'))
    (root / "first.txt").write_text("hello\n")
    doit(root)
    (root / "first.txt").write_text("changed\n")
    assert ran(doit(root, "-v", "2")) == ["first", "second"]
    assert fast(doit(root))


LISTED = """\
import glob, os


def copy(source, target):
    with open(target, "w") as handle:
        handle.write(open(source).read())


def add_one():
    # as a user adding a file while the run goes on: after the task list was made
    with open("in/late.txt", "w") as handle:
        handle.write("late\\n")
    open("added.out", "w").close()


def task_copy():
    for path in sorted(glob.glob("in/*.txt")):
        target = "out/" + os.path.basename(path)
        yield {"name": path, "actions": [(copy, [path, target])],
               "file_dep": [path], "targets": [target]}


def task_add():
    return {"actions": [add_one], "file_dep": ["trigger.txt"], "targets": ["added.out"]}
"""


@pytest.mark.parametrize("snapshot_before", [False, True])
def test_a_file_added_to_a_listed_directory_after_its_listing_is_seen(tmp_path,
                                                                      snapshot_before):
    """The tasks were made from the listing before the file came: the next run
    walks and makes its task (the directory used to be recorded as it was at
    the end of the run, so no later run saw the file)."""
    root = mini(tmp_path)
    (root / "dodo.py").write_text(LISTED)
    (root / "in").mkdir()
    (root / "out").mkdir()
    (root / "in" / "a.txt").write_text("a\n")
    (root / "trigger.txt").write_text("1\n")
    if snapshot_before:   # a check that swept every path, then this run
        doit(root)
        os.remove(root / "in" / "late.txt")
        doit(root)
        assert fast(doit(root))
        (root / "trigger.txt").write_text("2\n")
    doit(root)
    assert (root / "in" / "late.txt").exists() and not (root / "out" / "late.txt").exists()
    result = doit(root, "-v", "2")
    assert "in changed since the last run" in declined(result)
    assert (root / "out" / "late.txt").read_text() == "late\n"
    assert fast(doit(root))


@pytest.mark.parametrize("change, args, reason", [
    (None, ["copy"], "the command line, directory or interpreter differs from the last run's"),
    (None, ["-a"], "--always given"),
    (None, ["--reporter", "json"], "the 'json' reporter is not a text reporter"),
    (lambda root: (root / "dodo.py").write_text((root / "dodo.py").read_text() + "\n# edit\n"),
     [], "dodo.py changed since the last run"),
    (lambda root: (root / "pyproject.toml").write_text(PYPROJECT + "verbosity = 0\n"),
     [], "pyproject.toml changed since the last run"),
    (lambda root: doit(root, "forget", "copy"), [], ".conductor/doit.db changed since the last run"),
    (lambda root: (root / "out.txt").unlink(), [], ". changed since the last run"),   # a target
])
def test_changed_command_line_dodo_config_state_or_target_take_the_walk(tmp_path, change, args, reason):
    root = mini(tmp_path)
    doit(root)
    assert fast(doit(root))
    if change is not None:
        change(root)
    result = doit(root, "-v", "2", *args)
    assert reason in declined(result) and not fast(result)


def test_a_file_written_into_the_project_is_no_change_unless_it_could_matter(tmp_path):
    """issue 26: `report.html` in the root (where the dodo, the config and a
    target live) must not defeat the fast no-op; a module there that an import
    could pick up instead, and a target's removal, must."""
    root = mini(tmp_path)
    doit(root)
    assert fast(doit(root))
    (root / "report.html").write_text("<html></html>")
    (root / "my-notes").mkdir()   # not a name an import could ask for
    (root / "my-notes" / "todo.txt").write_text("later")
    assert fast(doit(root))
    assert fast(doit(root))   # and the snapshot took the directory's new stat
    (root / "write.py").write_text("")   # `import write` would find it
    result = doit(root, "-v", "2")
    assert f"{root.resolve()} changed since the last run" in declined(result)
    assert ran(result) == []
    (root / "write.py").unlink()
    doit(root)
    assert fast(doit(root))


DELAYED = """\
from doit import create_after



def copy(source, target):
    with open(target, "w") as handle:
        handle.write(open(source).read())


def task_plan():
    return {"actions": [(copy, ["in.txt", "plan.txt"])], "file_dep": ["in.txt"],
            "targets": ["plan.txt"]}


@create_after(executed="plan")
def task_gen():
    # nothing links gen to plan but create_after: no task_dep, no file_dep
    yield {"name": "one", "actions": [(copy, ["flag.txt", "gen.txt"])],
           "file_dep": ["flag.txt"], "targets": ["gen.txt"]}
"""


def test_what_a_create_after_waited_for_is_watched(tmp_path):
    root = mini(tmp_path)
    (root / "dodo.py").write_text(DELAYED)
    doit(root, "gen")
    assert fast(doit(root, "gen"))
    (root / "in.txt").write_text("changed\n")
    result = doit(root, "-v", "2", "gen")
    assert declined(result) == "in.txt changed since the last run" and "plan" in ran(result)


def test_every_real_change_to_the_workflow_is_seen(built):
    """The repository's own workflow (a callable uptodate on scan-output and on
    tasks 9-22, all declaring what they read): fast when nothing changed, and each
    kind of change seen and acted upon by the walk that follows."""
    root = built.root

    def run(*args: str) -> subprocess.CompletedProcess:
        return built.doit(*args, check=True)

    run()   # a copy in another directory: walks, and leaves a snapshot
    assert fast(run())
    (root / "report.html").write_text("<html></html>")   # issue 26: a report in the root
    assert fast(run())
    pattern = root / "patterns" / "currency.yaml"
    output = root / "output" / "sql" / "orders.sql"
    template = root / "templates" / "sql" / "entity.sql.j2"
    changes = [
        ("a pattern byte", lambda: pattern.write_text(pattern.read_text() + "\n"),
         "patterns/currency.yaml changed", "validate-patterns"),
        ("a template", lambda: template.write_text(template.read_text() + "{# edited #}"),
         "templates/sql/entity.sql.j2 changed", "lint-templates"),
        ("an output edited", lambda: output.write_text(output.read_text() + "-- edit\n"),
         "output/sql/orders.sql changed", "scan-output"),
        ("an output deleted", output.unlink, "output/sql/orders.sql is gone",
         built.batch_of("orders")),
        ("a new pattern file", lambda: (root / "patterns" / "currency2.yaml").write_text(
            pattern.read_text().replace("name: currency", "name: currency2")),
         "/patterns changed", "validate-patterns"),
        ("a pattern file removed", lambda: (root / "patterns" / "currency2.yaml").unlink(),
         "patterns/currency2.yaml is gone", "validate-patterns"),
    ]
    for what, change, reason, task in changes:
        change()
        result = built.doit("-v", "2")
        assert result.returncode == 0, (what, result.stderr)
        assert reason in declined(result), what
        assert task in ran(result), what
        assert fast(run()), f"after {what}"


def test_snapshot_stays_out_of_projects_without_the_conductor_backend(tmp_path):
    root = mini(tmp_path)
    (root / "pyproject.toml").unlink()   # doit's defaults: dbm backend, .doit.db
    doit(root)
    result = doit(root, "-v", "2")
    assert "fast no-op" not in result.stderr and "-- copy" in result.stdout
    assert not list(root.rglob("snapshot"))


LINKED_TARGET = """\
def write(target):
    with open(target, "w") as handle:
        handle.write(open("in.txt").read())


def task_copy():
    return {"actions": [(write, ["out/out.txt"])], "file_dep": ["in.txt"],
            "targets": ["out/out.txt"]}
"""


def test_a_target_directory_that_is_a_link_is_not_watched_through_it(tmp_path):
    """The project's own task writes through its `out` link (its choice); the
    fast no-op never lists that directory, so it records no snapshot: every
    run walks the tasks, and still finds them up to date."""
    root = mini(tmp_path)
    (root / "dodo.py").write_text(LINKED_TARGET)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "out").symlink_to(outside)
    first = doit(root, "-v", "2")
    assert ran(first) == ["copy"] and (outside / "out.txt").read_text() == "hello\n"
    reason = "out is a symbolic link or below one: its targets are not watched through it"
    assert f"fast no-op not recorded for the next run: {reason}" in first.stderr
    second = doit(root, "-v", "2")
    assert reason in declined(second) and not fast(second) and ran(second) == []


LINK_TARGET = """\
import os


def link(target):
    with open("real.txt", "w") as handle:
        handle.write(open("in.txt").read())
    os.makedirs("out", exist_ok=True)
    if os.path.lexists(target):
        os.unlink(target)
    os.symlink("../real.txt", target)


def task_link():
    return {"actions": [(link, ["out/out.txt"])], "file_dep": ["in.txt"],
            "targets": ["out/out.txt"]}
"""


def test_a_target_that_dangles_is_missing_as_doit_sees_it(tmp_path):
    """doit follows a target that is a symbolic link: a dangling one does not
    exist, and the task runs.  The fast no-op sees the same, whether the file
    a recorded link points to goes, or a file target is replaced by a
    dangling link (its name still listed)."""
    root = mini(tmp_path)
    (root / "dodo.py").write_text(LINK_TARGET)
    assert ran(doit(root)) == ["link"]
    assert fast(doit(root))
    (root / "real.txt").unlink()
    again = doit(root, "-v", "2")
    assert declined(again) == "out/out.txt is gone since the last run"
    assert ran(again) == ["link"] and (root / "out/out.txt").read_text() == "hello\n"
    assert fast(doit(root))

    (root / "dodo.py").write_text(LINKED_TARGET.replace("out/out.txt", "out/file.txt"))
    assert ran(doit(root)) == ["copy"] and fast(doit(root))
    (root / "out/file.txt").unlink()
    (root / "out/file.txt").symlink_to(root / "nowhere.txt")
    replaced = doit(root, "-v", "2")
    assert declined(replaced) == "out changed since the last run"
    assert ran(replaced) == ["copy"]   # the task writes through the link: its choice
    assert (root / "nowhere.txt").read_text() == "hello\n"


READ_TARGET = """\
import os


def copy(source, target):
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w") as handle:
        handle.write(open(source).read())


def task_make():
    return {"actions": [(copy, ["in.txt", "out/a.txt"])], "file_dep": ["in.txt"],
            "targets": ["out/a.txt"]}


def task_use():
    return {"actions": [(copy, ["out/a.txt", "b.txt"])], "file_dep": ["out/a.txt"],
            "targets": ["b.txt"]}
"""


def test_a_target_another_task_reads_is_watched_by_its_stat(tmp_path):
    """Its directory is not listed for it (at 10,000 patterns every output is
    such a target); its going, or turning into a dangling link, is seen."""
    from doit_conductor.incremental import snapshot
    root = mini(tmp_path)
    (root / "dodo.py").write_text(READ_TARGET)
    assert ran(doit(root)) == ["make", "use"]
    assert fast(doit(root))
    taken = snapshot.decode((root / ".conductor/noop/snapshot").read_bytes())
    assert "out/a.txt" in taken.paths and "out" not in taken.listings
    (root / "out/a.txt").unlink()
    gone = doit(root, "-v", "2")
    assert declined(gone) == "out/a.txt is gone since the last run"
    assert ran(gone) == ["make"] and fast(doit(root))
    (root / "out/a.txt").unlink()
    (root / "out/a.txt").symlink_to(root / "nowhere.txt")
    dangling = doit(root, "-v", "2")
    assert declined(dangling) == "out/a.txt is gone since the last run" and "make" in ran(dangling)
