"""doit's own commands on this workflow and the conductor backend: each works,
exits 0 and says what doit would say; none prints a traceback."""
from __future__ import annotations


import pytest

from tests.support.doit import run_doit
from tests.support.projects import Project

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow


def ok(project: Project, *args: str) -> str:
    result = project.doit(*args)
    text = result.stdout + result.stderr
    assert result.returncode == 0, f"doit {' '.join(args)}:\n{text}"
    assert "Traceback" not in text, text
    return text


def test_clean_leaves_no_file_and_no_folder_the_workflow_made(built: Project):
    reference = built.tree()
    text = ok(built, "clean")
    assert "cannot remove" not in text
    assert not built.path("output").exists()  # no empty output/ tree left behind
    assert not built.path(".conductor/state").exists()  # batches/ included
    assert not built.path(".conductor/cache/batches").exists()
    ok(built)
    assert built.tree() == reference


def test_dumpdb_prints_the_conductor_db(built: Project):
    text = ok(built, "dumpdb")
    assert text.startswith("DB type is 'conductor' (.conductor/doit.db)\n")
    assert f"\n{built.batch_of('currency')} -> {{" in text
    assert "'checker:': 'XXHashChecker'" in text


def test_forget_ignore_reset_dep_info_list_strace(built: Project):
    batch = built.batch_of("currency")
    assert f"forgetting {batch}" in ok(built, "forget", batch)
    assert built.doit().returncode == 0
    assert built.statuses(batch) == {batch: "ran"}
    # without task names this project forgets nothing (pyproject.toml:
    # forget_disable_default; doit 0.37 itself would crash), --all forgets all
    built.doit("forget")
    assert built.did_nothing(built.doit(check=True))
    ok(built, "forget", "--all")
    ok(built)
    statuses = built.statuses()
    assert statuses.pop("codegen") == "up-to-date"  # the group: up to date by definition
    assert set(statuses.values()) == {"ran"}
    assert "ignoring docs" in ok(built, "ignore", "docs")
    ok(built)
    assert built.statuses("docs") == {"docs": "ignored", "docs-links": "ignored"}
    ok(built, "forget", "docs")
    ok(built, "reset-dep")
    ok(built)
    assert set(built.statuses().values()) <= {"up-to-date", "ran"}
    assert "output/sql/currency.sql" in ok(built, "info", batch)
    listed = ok(built, "list", "--sort", "definition").splitlines()
    assert len(listed) == 22 and listed[0].split()[0] == "check-env"
    for line in listed:   # the docstring says what the task does, not its number and name again
        name, doc = line.split(None, 1)
        assert not doc[0].isdigit() and not doc.startswith(name), line
    assert "meta       : {'number': 8, 'phase': 3}" in ok(built, "info", "codegen")
    assert ".  strace_report" in ok(built, "strace", "check-env")


def test_cache_gc_refuses_negative_limits(built: Project):
    for option in ("--max-entries", "--max-bytes"):
        result = built.doit("cache-gc", option, "-1")
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode == 3
        assert lines == [f"ERROR: cache-gc: {option} must be 0 or more (got -1)"]
    assert "template cache: kept" in ok(built, "cache-gc")
    for args, line in ((["--nope"], "unknown option --nope (`doit help cache-gc` lists them)"),
                       (["--max-entries", "x"], "option --max-entries takes a whole number, "
                                                "not 'x'")):
        result = built.doit("cache-gc", *args)
        assert result.returncode == 3
        assert (result.stdout + result.stderr).strip().splitlines() == [f"ERROR: cache-gc: {line}"]


@pytest.mark.slow
def test_cache_gc_outside_a_conductor_project_leaves_nothing_behind(tmp_path):
    (tmp_path / "dodo.py").write_text("def task_x():\n    return {'actions': ['true']}\n")
    result = run_doit(tmp_path, "cache-gc", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to collect" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dodo.py"]


def test_a_negative_or_absurd_worker_count_is_refused_without_a_record(built: Project, tmp_path):
    from doit_conductor.profiling.store import list_runs, metrics_root
    built.doit("forget", "code-stats", check=True)   # work left: no fast no-op
    runs = list_runs(metrics_root(built.root))
    for count in ("-2", "5000"):
        result = built.doit("-n", count)
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode == 3, result.stdout + result.stderr
        assert len(lines) == 1 and lines[0].startswith(f"ERROR: -n {count}: "), lines
    assert list_runs(metrics_root(built.root)) == runs   # no run recorded
    ok(built, "-n", "2")
    assert built.statuses("code-stats") == {"code-stats": "ran"}
    # a project that selects nothing of ours keeps doit's own behaviour
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "dodo.py").write_text("def task_x():\n    return {'actions': ['true']}\n")
    assert run_doit(tmp_path / "plain", "-n", "-2", timeout=120).returncode == 0


@pytest.mark.parametrize("line, option", [('reporter = "conductor"', "reporter"),
                                          ('dep_file = ".conductor/doit.db"', "dep_file")])
def test_a_wrongly_typed_doit_option_is_one_line_not_a_traceback(built: Project, line, option):
    pyproject = built.path("pyproject.toml")
    pyproject.write_text(pyproject.read_text().replace(line, f"{option} = 5", 1))
    result = built.doit()
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 3, result.stdout + result.stderr
    assert lines == [f"ERROR: doit option {option!r} is 5 (int): expected a "
                     f"{'reporter' if option == 'reporter' else 'file'} name "
                     "([tool.doit] in pyproject.toml or DOIT_CONFIG in dodo.py)"]


@pytest.mark.slow
def test_dodo_config_is_checked_too(tmp_path):
    # DOIT_CONFIG is merged after the command line is parsed: checked all the same
    (tmp_path / "dodo.py").write_text("DOIT_CONFIG = {'reporter': 'conductor', 'num_process': -2}\n"
                                      "def task_x():\n    return {'actions': ['true']}\n")
    result = run_doit(tmp_path, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip().splitlines() == [
        "ERROR: -n -2: the number of workers cannot be negative (-n 0 or no -n: one process)"]
    assert not (tmp_path / ".conductor" / "metrics").exists()
