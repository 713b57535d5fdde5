"""A run after a few inputs changed: tasks whose own inputs did not move are
judged from the last snapshot, with the same result as doit's full walk."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from doit_conductor.incremental import racy, selection, snapshot
from tests.support.doit import run_doit

KEY = ("dir", "python", "tasks")

PYPROJECT = """\
[tool.doit]
dep_file = ".conductor/doit.db"
backend = "conductor"
"""

# a -> b through a file; c -> d through a file; e reads a declared file
DODO = """\
from doit.tools import config_changed


def copy(source, target):
    with open(target, "w") as handle:
        handle.write(open(source).read())


def flag_is_ok():
    return open("flag.txt").read() == "ok"


flag_is_ok.snapshot_paths = lambda: ["flag.txt"]


def task_a():
    return {"actions": [(copy, ["a.in", "a.out"])], "file_dep": ["a.in"], "targets": ["a.out"]}


def task_b():
    return {"actions": [(copy, ["a.out", "b.out"])], "file_dep": ["a.out"],
            "targets": ["b.out"]}


def task_c():
    return {"actions": [(copy, ["c.in", "c.out"])], "file_dep": ["c.in"], "targets": ["c.out"]}


def task_d():
    return {"actions": [(copy, ["c.out", "d.out"])], "file_dep": ["c.out"],
            "targets": ["d.out"], "uptodate": [config_changed({"version": 1})]}


def task_e():
    return {"actions": [(copy, ["e.in", "e.out"])], "file_dep": ["e.in"],
            "targets": ["e.out"], "uptodate": [flag_is_ok]}
"""


def doit(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_doit(root, *args, timeout=120, check=True)


def ran(result: subprocess.CompletedProcess) -> list[str]:
    return sorted(line[3:] for line in result.stdout.splitlines() if line.startswith(".  "))


def said(result: subprocess.CompletedProcess, prefix: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix(prefix)


@pytest.fixture
def built(tmp_path) -> Path:
    """The project built, then a fast no-op (which settles the entries the
    recording found too recent to trust by stat)."""
    root = tmp_path / "sel"
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "dodo.py").write_text(DODO)
    for name in ("a.in", "c.in", "e.in"):
        (root / name).write_text(name)
    (root / "flag.txt").write_text("ok")
    doit(root)
    time.sleep(0.1)   # past the racy window of what the build wrote
    assert doit(root).stdout.startswith("up to date: ")
    return root


def walked_in_full(root: Path, tmp_path: Path, change) -> subprocess.CompletedProcess:
    """The same change in a copy elsewhere (another directory: another key, so
    no snapshot applies): doit's own full walk."""
    copy = tmp_path / "full"
    shutil.copytree(root, copy, symlinks=True)
    change(copy)
    result = doit(copy, "-v", "2")
    assert "judged from the snapshot" not in result.stderr
    return result


@pytest.mark.parametrize("change, runs, judged", [
    (lambda root: (root / "a.in").write_text("edited"), ["a", "b"], 3),
    (lambda root: (root / "c.in").write_text("edited"), ["c", "d"], 3),
    (lambda root: (root / "e.in").write_text("edited"), ["e"], 4),
    (lambda root: (root / "b.out").unlink(), ["b"], 4),     # a target gone
    (lambda root: ((root / "report.html").write_text("x"), (root / "c.in").write_text("e")),
     ["c", "d"], 3),
])
def test_an_edit_runs_what_a_full_walk_runs_and_judges_the_rest(built, tmp_path, change,
                                                                 runs, judged):
    full = walked_in_full(built, tmp_path, change)
    change(built)
    result = doit(built, "-v", "2")
    assert ran(result) == ran(full) == runs
    assert result.stdout == full.stdout.replace(str(tmp_path / "full"), str(built))
    assert said(result, "judged from the snapshot: ") == \
        f"{judged} of 5 tasks (their inputs had not changed)"
    for name in ("a", "b", "c", "d", "e"):
        assert (built / f"{name}.out").read_text() == (tmp_path / "full" / f"{name}.out").read_text()
    assert doit(built).stdout.startswith("up to date: 5 tasks")


def test_a_declared_read_that_changed_goes_to_doit(built):
    (built / "flag.txt").write_text("not ok")
    result = doit(built, "-v", "2")
    assert ran(result) == ["e"]
    assert said(result, "judged from the snapshot: ") == \
        "4 of 5 tasks (their inputs had not changed)"


def test_the_walk_judges_after_what_it_waits_for_has_run(built):
    """b reads a.out, which a rewrites in the same run: b is judged when doit
    reaches it, after a ran, by the stat a left, not by the sweep before."""
    (built / "a.in").write_text("new text")
    doit(built)
    assert (built / "b.out").read_text() == "new text"


@pytest.mark.parametrize("change, reason", [
    (lambda root: (root / "dodo.py").write_text(DODO + "\n# edit\n"),
     "dodo.py changed, which any task's definition or check may read"),
    (lambda root: (root / "pyproject.toml").write_text(PYPROJECT + "verbosity = 0\n"),
     "pyproject.toml changed, which any task's definition or check may read"),
    (lambda root: doit(root, "forget", "c"),
     ".conductor/doit.db changed, which any task's definition or check may read"),
    (lambda root: (root / ".conductor" / "noop" / "verdicts").write_bytes(b"garbage"),
     "the last run left no verdicts to reuse"),
])
def test_what_any_verdict_may_rest_on_sends_every_task_to_doit(built, change, reason):
    change(built)
    (built / "a.in").write_text("edited")
    result = doit(built, "-v", "2")
    assert said(result, "every task is checked: ").endswith(reason)
    assert "judged from the snapshot" not in result.stderr
    assert "a" in ran(result) and "b" in ran(result)


def test_a_changed_definition_goes_to_doit(built):
    """d's config_changed value is part of its signature: a new value is not
    judged from the snapshot (doit runs d: its saved config differs)."""
    (built / "dodo.py").write_text(DODO.replace('{"version": 1}', '{"version": 2}'))
    result = doit(built, "-v", "2")
    assert ran(result) == ["d"]


# -- the pure part ---------------------------------------------------------

def test_signature_is_the_file_dep_set_and_the_checks():
    one = selection.task_signature({"b", "a"}, ["True"])
    assert one == selection.task_signature(["a", "b"], ["True"])
    assert one != selection.task_signature(["a"], ["True"])
    assert one != selection.task_signature(["a", "b"], ["config_changed {'v': 2}"])


def later() -> int:
    return time.time_ns() + racy.COARSE_NS + 1_000_000_000


def test_a_task_is_judged_only_when_its_inputs_definition_and_targets_hold(tmp_path):
    for name in ("in", "other", "out"):
        (tmp_path / name).write_text(name)
    inp, other, out = (str(tmp_path / name) for name in ("in", "other", "out"))
    taken = snapshot.take(KEY, [inp, other], 1, later())
    verdicts = selection.Verdicts(KEY, taken.started_ns, {"t": "sig"}, frozenset())
    judge = selection.Prejudged(taken, verdicts)
    assert judge.up_to_date("t", "sig", [inp], [out])
    assert not judge.up_to_date("t", "other sig", [inp], [out])
    assert not judge.up_to_date("new", "sig", [inp], [out])
    assert not judge.up_to_date("t", "sig", [inp, str(tmp_path / "unwatched")], [out])
    assert not judge.up_to_date("t", "sig", [inp], [str(tmp_path / "missing")])
    (tmp_path / "in").write_text("changed")
    assert not judge.up_to_date("t", "sig", [inp], [out])
    assert judge.judged == 1
    recent = snapshot.take(KEY, [other], 1, time.time_ns())   # kept by content: not judged
    assert not selection.Prejudged(recent, verdicts).up_to_date("t", "sig", [other], [])


def test_walk_reason_and_changed_paths(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "dodo.py").write_text("")
    a, dodo = str(tmp_path / "a"), str(tmp_path / "dodo.py")
    taken = snapshot.take(KEY, [a, dodo], 1, later())
    verdicts = selection.Verdicts(KEY, taken.started_ns, {}, frozenset({dodo}))
    (tmp_path / "a").write_text("22")
    changed = selection.changed_paths(taken, snapshot.sweep(taken.paths))
    assert changed == [a]
    assert selection.walk_reason(taken, verdicts, KEY, changed) is None
    assert "dodo.py changed" in selection.walk_reason(taken, verdicts, KEY, [a, dodo])
    assert selection.walk_reason(taken, None, KEY, changed) == \
        "the last run left no verdicts to reuse"
    stale = selection.Verdicts(KEY, taken.started_ns - 1, {}, frozenset())
    assert selection.walk_reason(taken, stale, KEY, changed) == \
        "the verdicts are not the last snapshot's"


def test_verdicts_round_trip_and_refuse_damage():
    verdicts = selection.Verdicts(KEY, 5, {"t": "x"}, frozenset({"dodo.py"}))
    assert selection.decode(selection.encode(verdicts)) == verdicts
    assert selection.decode(b"garbage") is None
