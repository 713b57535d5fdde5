"""doit's own commands on this workflow and the conductor backend: each works,
exits 0 and says what doit would say; none prints a traceback."""
from __future__ import annotations


import pytest

from tests.support.doit import run_doit
from tests.support.projects import Project


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
    assert "codegen" in ok(built, "list")
    assert ".  strace_report" in ok(built, "strace", "check-env")


def test_cache_gc_refuses_negative_limits(built: Project):
    for option in ("--max-entries", "--max-bytes"):
        result = built.doit("cache-gc", option, "-1")
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode == 3
        assert lines == [f"ERROR: cache-gc: {option} must be 0 or more (got -1)"]
    assert "template cache: kept" in ok(built, "cache-gc")


@pytest.mark.slow
def test_cache_gc_outside_a_conductor_project_leaves_nothing_behind(tmp_path):
    (tmp_path / "dodo.py").write_text("def task_x():\n    return {'actions': ['true']}\n")
    result = run_doit(tmp_path, "cache-gc", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to collect" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dodo.py"]
