"""Bad input: one line naming the file (and line), non-zero exit, no traceback,
other patterns' outputs untouched, nothing half-written, and the next run after
the fix rebuilds only what is needed."""
from __future__ import annotations

import re

import pytest


def replace_in(project, relative: str, old: str, new: str) -> None:
    path = project.path(relative)
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


def append_to(project, relative: str, text: str) -> None:
    path = project.path(relative)
    path.write_text(path.read_text() + text)


CASES = {
    "malformed YAML": (
        lambda p: replace_in(p, "patterns/users.yaml", "  primary_key: id", "  primary_key: [id"),
        r"patterns/users\.yaml:\d+: invalid YAML"),
    "unknown key": (
        lambda p: replace_in(p, "patterns/currency.yaml", "description:", "descripton:"),
        r"patterns/currency\.yaml:3: unknown key 'descripton'"),
    "missing key": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n", ""),
        r"patterns/currency\.yaml:1: missing required key 'kind'"),
    "max_length too large": (
        lambda p: replace_in(p, "patterns/users.yaml", "max_length: 60", "max_length: 4000000000"),
        r"patterns/users\.yaml:\d+: params\.fields\.\d+\.max_length: must be at most "
        r"10,485,760"),
    "max_length below 1": (
        lambda p: replace_in(p, "patterns/users.yaml", "max_length: 60", "max_length: -3"),
        r"patterns/users\.yaml:\d+: params\.fields\.\d+\.max_length: must be at least 1"),
    "wrong type": (
        lambda p: replace_in(p, "patterns/products.yaml", "type: float", "type: decimal"),
        r"patterns/products\.yaml:9: params\.fields\.2\.type: must be one of int, str"),
    "template not in kind": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\ntemplates: [python/nope.py.j2]\n"),
        r"patterns/currency\.yaml:3: template 'python/nope\.py\.j2' is not one of kind 'enum'"),
    "kinds table names a missing template": (
        lambda p: append_to(p, "templates/kinds.yaml", "  docs/gone.md.j2: docs/{name}.md\n"),
        r"templates/kinds\.yaml:18: kind 'endpoint': template 'docs/gone\.md\.j2' does not "
        r"exist"),
    "template syntax error": (
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "{% for value", "{% for value value"),
        # our words, file and line; the rest is Jinja2's own wording, not pinned here
        r"templates/sql/enum\.sql\.j2:10: template syntax error: \S"),
    "undefined variable": (
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "{{ pattern.name | sql_ident }} (",
                             "{{ pattern.table_name | sql_ident }} ("),
        r"templates/sql/enum\.sql\.j2:\d+: undefined variable while rendering "
        r"patterns/\w+\.yaml: .*\btable_name\b"),  # the name the template used, in any wording
    "template divides by zero": (
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "is_default INTEGER NOT NULL DEFAULT 0",
                             "is_default INTEGER NOT NULL DEFAULT {{ 0 * (1 // (p['values'] | length - 3)) }}"),
        r"templates/sql/enum\.sql\.j2:7: template failed while rendering patterns/\w+\.yaml: "
        r"ZeroDivisionError"),
    "template turns a huge integer into text": (
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "-- {{ (pattern",
                             "-- {{ 10 ** 5000 }} {{ (pattern"),
        # `**` is checked by the sandbox (templates.BoundedSandbox), then str() fails
        r"templates/sql/enum\.sql\.j2:4: template failed while rendering patterns/\w+\.yaml: "
        r"ValueError"),
    "template turns a huge pattern integer into text": (
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "-- {{ (pattern",
                             "-- {{ (p['values'] | length) ** 20000 }} {{ (pattern"),
        r"templates/sql/enum\.sql\.j2:4: template failed while rendering patterns/\w+\.yaml: "
        r"ValueError"),
    "template repeats a string into gigabytes": (
        # built in one step, before any output limit could see it: it used to
        # exhaust the machine's memory (the OOM killer ended doit, exit 137)
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "-- {{ (pattern",
                             "-- {{ '9' * 10000000000 }} {{ (pattern"),
        r"templates/sql/enum\.sql\.j2:4: unsafe operation blocked by the sandbox while rendering "
        r"patterns/\w+\.yaml: repeating 1 items 10000000000 times"),
    "duplicate key in a pattern": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n", "kind: enum\nkind: entity\n"),
        r"patterns/currency\.yaml:3: duplicate key 'kind' \(first on line 2\)"),
    "depends_on cycle": (
        lambda p: replace_in(p, "patterns/users.yaml", "kind: entity\n",
                             "kind: entity\ndepends_on: [order_items]\n"),
        r"patterns/order_items\.yaml:4: depends_on cycle: order_items -> orders -> users -> "
        r"order_items"),
    "unknown dependency": (
        lambda p: replace_in(p, "patterns/users.yaml", "kind: entity\n",
                             "kind: entity\ndepends_on: [products, ghost]\n"),
        r"patterns/users\.yaml:3: depends_on names unknown pattern 'ghost'"),
    "reference to an enum": (
        lambda p: (replace_in(p, "patterns/orders.yaml", "[users]", "[users, currency]"),
                   replace_in(p, "patterns/orders.yaml", "references: users}\n",
                              "references: users}\n"
                              "    - {name: currency, type: str, references: currency}\n")),
        r"patterns/orders\.yaml:10: refers to 'currency', of kind 'enum'; only entities can be "
        r"referenced"),
    "two patterns, one output path": (
        lambda p: replace_in(p, "patterns/user_role.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: sql/currency.sql}\n"),
        r"patterns/user_role\.yaml:3: output output/sql/currency\.sql is produced twice"),
    "two templates of one pattern, one output path": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n", "kind: enum\noutputs: "
                             "{sql/enum.sql.j2: python/tests/test_currency.py}\n"),
        r"patterns/currency\.yaml:3: output output/python/tests/test_currency\.py is produced "
        r"twice by this pattern: by templates python/test_enum\.py\.j2 and sql/enum\.sql\.j2"),
    "output path with ..": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: ../../evil.sql}\n"),
        r"patterns/currency\.yaml:3: output path '\.\./\.\./evil\.sql' must be a plain relative"),
    "output path segment over the file system's name limit": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: sql/" + "c" * 300 + ".sql}\n"),
        r"patterns/currency\.yaml:3: output path segment 'c+\.\.\.' is 304 bytes long; the file "
        r"system allows \d+ for a generated file name"),
    "output name that leaves no room for its temporary name": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: sql/" + "c" * 240 + ".sql}\n"),
        r"patterns/currency\.yaml:3: output path segment 'c+\.\.\.' is 244 bytes long"),
    "output over a docs page": (
        lambda p: replace_in(p, "patterns/user_role.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: docs/users.md}\n"),
        r"patterns/user_role\.yaml:3: output output/docs/users\.md is written by the workflow's "
        r"task 'docs'"),
    "output over the checksums": (
        lambda p: replace_in(p, "patterns/user_role.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: SHA256SUMS}\n"),
        r"patterns/user_role\.yaml:3: output output/SHA256SUMS is written by the workflow's "
        r"task 'checksums'"),
    "a pattern named index": (
        lambda p: p.path("patterns/index.yaml").write_text(
            p.path("patterns/currency.yaml").read_text().replace("name: currency", "name: index")),
        r"patterns/index\.yaml:1: a pattern cannot be named 'index'"),
    "absolute output path": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: /tmp/evil.sql}\n"),
        r"patterns/currency\.yaml:3: output path '/tmp/evil\.sql' must be a plain relative"),
    "generated code does not compile": (
        lambda p: replace_in(p, "patterns/products.yaml", "{name: stock, type: int}",
                             "{name: class, type: int}"),
        r"output/python/conductor_models/products\.py:\d+: generated Python does not compile"),
    "generated code fails a check": (
        lambda p: replace_in(p, "patterns/currency.yaml", "Currencies prices are quoted in",
                             "Currencies " + "very " * 20 + "long"),
        r"output/schemas/currency\.schema\.json:6: line is \d+ characters, over the "
        r"limit of 100"),
}


def assert_one_line_error(result, pattern: str) -> None:
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    matches = [line for line in text.splitlines() if re.search(pattern, line)]
    assert len(matches) == 1, f"expected one line matching {pattern!r} in:\n{text}"


def untouched(before: dict, after: dict, broken: str | None) -> bool:
    return {p: h for p, h in after.items() if not broken or broken not in p} == \
        {p: h for p, h in before.items() if not broken or broken not in p}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_loses_nothing(built, case):
    break_it, message = CASES[case]
    before = built.tree()
    before_mtimes = built.mtimes()
    break_it(built)
    result = built.doit()
    assert_one_line_error(result, message)
    assert built.tree() == before and built.mtimes() == before_mtimes
    assert not [p for p in built.path("output").rglob("*") if p.name.endswith(".tmp")]


def test_symlinked_output_directory_is_refused(built, tmp_path):
    before = built.tree()
    outside = tmp_path / "outside"
    outside.mkdir()
    sql = built.path("output/sql")
    for file in sql.iterdir():
        file.unlink()
    sql.rmdir()
    sql.symlink_to(outside, target_is_directory=True)
    result = built.doit()
    # caught by scan-output, the first task that looks at the generated files
    # (never through the link), naming the link itself
    assert_one_line_error(result, r"output/sql: is a symbolic link; refusing to follow it")
    assert list(outside.iterdir()) == []
    assert {p: h for p, h in built.tree().items() if not p.startswith("sql")} == \
        {p: h for p, h in before.items() if not p.startswith("sql")}


def test_after_the_fix_only_what_is_needed_rebuilds(built):
    path = built.path("patterns/products.yaml")
    good = path.read_text()
    reference = built.tree()
    path.write_text(good.replace("{name: stock, type: int}", "{name: class, type: int}"))
    assert built.doit().returncode != 0
    path.write_text(good)
    built.doit("codegen", check=True)
    # the failed run wrote nothing of products, whose inputs are back as they were
    # built: at most its own batch looks again, and no pattern is rebuilt
    ran = {n for n, s in built.statuses("codegen:").items() if s == "ran"}
    assert len(ran - {"codegen:_manifest"}) <= 1 and built.built_patterns() <= {"products"}
    assert built.tree() == reference


def test_an_output_over_a_docs_page_fails_every_build_the_same_way(project):
    """It used to fail a clean build (task 15 rewrote the page codegen wrote)
    and pass the next one."""
    replace_in(project, "patterns/user_role.yaml", "kind: enum\n",
               "kind: enum\noutputs: {sql/enum.sql.j2: docs/users.md}\n")
    message = r"output output/docs/users\.md is written by the workflow's task 'docs'"
    for _ in range(2):
        assert_one_line_error(project.doit(), message)
    assert not project.path("output/docs").exists()
