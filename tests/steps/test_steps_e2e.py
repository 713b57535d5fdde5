"""Tasks 9-22 through the real `doit` in a temporary copy of the project."""
from __future__ import annotations

import pytest

import hashlib
import json
import os
import re
import time
import zipfile

from doit_conductor.incremental import racy
from tasks.steps import publish, wheel
from tests.support.projects import copy_project

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

PHASES_4_5 = ("import-check", "generated-tests", "sql-schema", "schema-catalog", "reproducibility",
              "api-surface", "docs", "docs-links", "package", "checksums", "verify-package",
              "code-stats", "change-summary", "run-report")
WHEEL = "output/dist/conductor_models-0.1.0-py3-none-any.whl"


def ran(project) -> set[str]:
    return {name for name, status in project.statuses().items() if status == "ran"}


def test_cold_build_publishes_everything_reproducibly_then_does_nothing(built_template, tmp_path):
    listed = [line.split()[0] for line in
              built_template.doit("list", check=True).stdout.splitlines()]
    assert set(PHASES_4_5) <= set(listed) and len(listed) == 22
    assert built_template.path(WHEEL).is_file()
    names = zipfile.ZipFile(built_template.path(WHEEL)).namelist()
    assert "conductor_models/orders.py" in names and names[-1].endswith(".dist-info/RECORD")

    other = copy_project(tmp_path / "second")
    other.doit(check=True)
    tree = built_template.tree()
    assert tree == other.tree()
    assert {"schema.sql", "api.json", "SHA256SUMS", "schemas/index.json", "docs/index.md",
            "docs/orders.md"} <= set(tree)
    sums = dict(reversed(line.split("  ", 1)) for line in
                built_template.path("output/SHA256SUMS").read_text().splitlines())
    assert sums == {path: digest for path, digest in tree.items() if path != "SHA256SUMS"}
    report = built_template.path(".conductor/reports/workflow.md").read_text()
    assert hashlib.sha256(built_template.path(WHEEL).read_bytes()).hexdigest() in report
    assert re.search(r"(\d+) of \1 tests passed", report)

    again = other.doit(check=True)
    assert other.did_nothing(again, frozenset({"up-to-date"})), again.stdout


def test_an_edit_reruns_what_it_affects_and_reports_breaking_changes(built):
    sql = built.path("templates/sql/enum.sql.j2")
    sql.write_text(sql.read_text().replace("\n-- {{", "\n-- Values: {{", 1))
    built.doit(check=True)
    assert {"sql-schema", "checksums", "change-summary", "run-report"} <= ran(built)
    assert not {"import-check", "generated-tests", "api-surface", "package",
                "verify-package", "schema-catalog"} & ran(built)
    assert "Values:" in built.path("output/schema.sql").read_text()

    pattern = built.path("patterns/orders.yaml")
    pattern.write_text(pattern.read_text().replace(
        "    - {name: note, type: str, required: false, max_length: 500}\n", ""))
    result = built.doit("-v", "2", check=True)
    assert {"import-check", "generated-tests", "api-surface", "package", "verify-package"} \
        <= ran(built)
    # the wheel deflates the edited module and RECORD, copies the rest from the
    # wheel before, and is the wheel a build from nothing makes of the modules
    compressed, members = map(int, re.search(
        r"(\d+) of (\d+) wheel members compressed; the other", result.stdout).groups())
    assert (compressed, members) == (2, len(zipfile.ZipFile(built.path(WHEEL)).namelist()))
    models = built.path("output/python/conductor_models")
    assert built.path(WHEEL).read_bytes() == wheel.build_wheel(
        publish.DISTRIBUTION, "0.1.0", {f"conductor_models/{p.relative_to(models)}": p.read_bytes()
                                        for p in sorted(models.rglob("*.py"))}, publish.SUMMARY)
    changes = built.path(".conductor/reports/changes.md").read_text()
    assert "**BREAKING** `conductor_models.orders.Orders.note` removed" in changes
    assert "output/python/conductor_models/orders.py" in changes
    assert not list(built.path("output").rglob("__pycache__"))


def test_module_checks_run_again_only_what_an_edit_touched(built):
    """users.yaml's description changes users.py and its tests; get_user.py
    imports it.  The other modules and test modules, and all they execute, are
    unchanged: not imported or run again, from the tree or from the wheel."""
    users = built.path("patterns/users.yaml")
    users.write_text(users.read_text().replace("description: ", "description: Edited. ", 1))
    result = built.doit("-v", "2", "import-check", "generated-tests", "verify-package",
                        "reproducibility", check=True)
    assert "2 of 10 modules imported on their own; the other 8" in result.stdout, result.stdout
    assert "2 of 10 test modules run; the other 8" in result.stdout, result.stdout
    assert "2 of 10 modules imported from the unpacked wheel" in result.stdout, result.stdout
    # users.py and RECORD: the unpacked copy of the last wheel keeps the rest
    assert "2 of 14 files of the wheel unpacked" in result.stdout, result.stdout
    # users, and get_user and orders, which depend on it (their renders read it)
    assert "3 of 10 patterns rendered again from scratch" in result.stdout, result.stdout
    tests = json.loads(built.path(".conductor/state/generated-tests.json").read_text())["state"]
    assert tests["failures"] == tests["errors"] == 0 and len(tests["per_module"]) == 10
    assert tests["passed"] == sum(m["passed"] for m in tests["modules"].values()) > 0
    assert built.doit("import-check", "generated-tests", "verify-package", "reproducibility",
                      check=True).stdout.startswith("up to date: ")
    assert "1 of 10 modules read; the other 9" in built.doit(
        "-v", "2", "api-surface", check=True).stdout
    api = built.path("output/api.json").read_bytes()
    built.path(".conductor/state/api-sources.json").unlink()   # read them all again
    assert "10 of 10 modules read" in built.doit("-v", "2", "api-surface", check=True).stdout
    assert built.path("output/api.json").read_bytes() == api
    # `incremental = false`: every module is checked whenever the check runs
    config = built.path("pyproject.toml")
    config.write_text(config.read_text().replace("[tool.conductor]\n",
                                                 "[tool.conductor]\nincremental = false\n", 1))
    users.write_text(users.read_text().replace("description: ", "description: Again. ", 1))
    full = built.doit("-v", "2", "import-check", "generated-tests", "verify-package",
                      "reproducibility", check=True)
    assert "10 of 10 modules imported on their own" in full.stdout
    assert "10 of 10 test modules run" in full.stdout
    assert "10 of 10 modules imported from the unpacked wheel" in full.stdout
    assert "10 of 10 patterns rendered again from scratch" in full.stdout


def test_a_failing_generated_test_is_one_line_and_blocks_the_package(built):
    wheel = built.path(WHEEL).read_bytes()
    template = built.path("templates/python/test_enum.py.j2")
    template.write_text(template.read_text().replace(
        "parse(member.value), member)", "parse(member.value), None)"))
    result = built.doit()
    text = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in text
    failures = [line for line in text.splitlines() if re.search(
        r"output/python/tests/test_\w+\.py:\d+: generated test test_\w+\.Test\w+"
        r"\.test_parse_round_trip failed", line)]
    assert len(failures) == 1, text
    assert "package" not in ran(built) and built.path(WHEEL).read_bytes() == wheel


def test_whole_tree_readers_read_only_the_files_that_changed(built):
    """checksums and code-stats read the whole output tree, docs-links every
    page, sql-schema every SQL file (running it in SQLite), schema-catalog
    every JSON schema, reproducibility every planned output and pattern file;
    after an edit,
    only the files whose stat changed (or that were too recent to be
    remembered) are read again, and SHA256SUMS still says what every file's
    bytes hash to."""
    users = built.path("patterns/users.yaml")
    users.write_text(users.read_text().replace("description: ", "description: One. ", 1))
    built.doit(check=True)
    # nothing written so far can be within the racy window of the next run
    time.sleep(racy.window_ns(os.stat(built.path("output")).st_dev, racy.fine_devices())
               / 1e9 + 0.2)
    users.write_text(users.read_text().replace("description: ", "description: Two. ", 1))
    result = built.doit("-v", "2", check=True)
    counts = [tuple(map(int, found)) for found in
              re.findall(r"(\d+) of (\d+) files read; the other", result.stdout)]
    # checksums, code-stats, docs-links, sql-schema, schema-catalog, reproducibility
    assert len(counts) == 6, result.stdout
    for read, files in counts:
        assert 0 < read < files / 2, counts
    sums = built.path("output/SHA256SUMS").read_text().splitlines()
    assert sums and all(
        hashlib.sha256(built.path(f"output/{name}").read_bytes()).hexdigest() == digest
        for digest, name in (line.split("  ", 1) for line in sums))
    config = built.path("pyproject.toml")
    config.write_text(config.read_text().replace("[tool.conductor]\n",
                                                 "[tool.conductor]\nincremental = false\n", 1))
    users.write_text(users.read_text().replace("description: ", "description: Three. ", 1))
    full = built.doit("-v", "2", check=True)
    assert [(read, files) for read, files in (tuple(map(int, found)) for found in re.findall(
        r"(\d+) of (\d+) files read; the other", full.stdout))] == [
        (files, files) for _, files in counts]


def test_docs_render_only_the_pages_whose_inputs_changed(built):
    users = built.path("patterns/users.yaml")
    users.write_text(users.read_text().replace("description: ", "description: Edited. ", 1))
    result = built.doit("-v", "2", "docs", check=True)
    # the users page and the index, which lists every description
    assert "2 of 11 pages rendered" in result.stdout, result.stdout
    pages = built.tree("output/docs")
    # a hand-edited page is set aside and written again; only it is rendered
    page = built.path("output/docs/orders.md")
    page.write_text(page.read_text() + "\nmine\n")
    again = built.doit("-v", "2", "docs", check=True)
    assert "1 of 11 pages rendered" in again.stdout, again.stdout
    assert built.tree("output/docs") == pages
    # every page renders as a full render would
    built.path(".conductor/state/docs-pages.json").unlink()
    built.doit("forget", "docs", check=True)
    full = built.doit("-v", "2", "docs", check=True)
    assert "11 of 11 pages rendered" in full.stdout, full.stdout
    assert built.tree("output/docs") == pages


def test_docs_follow_a_template_the_docs_templates_include(built):
    """A partial edited: every page says what a build from nothing says (the
    docs task depended on its two templates only, and stayed up to date)."""
    partial = built.path("templates/_partials/docfoot.j2")
    partial.write_text("Footer one\n")
    pattern_page = built.path("templates/docs/pattern.md.j2")
    pattern_page.write_text(pattern_page.read_text() + '{% include "_partials/docfoot.j2" %}\n')
    built.doit(check=True)
    page = built.path("output/docs/orders.md")
    assert page.read_text().rstrip().endswith("Footer one")
    partial.write_text("Footer two\n")
    result = built.doit(check=True)
    assert page.read_text().rstrip().endswith("Footer two"), result.stdout
    assert built.doit(check=True).stdout.startswith("up to date: ")
