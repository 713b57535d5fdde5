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
    "wrong type": (
        lambda p: replace_in(p, "patterns/products.yaml", "type: float", "type: decimal"),
        r"patterns/products\.yaml:9: params\.fields\.2\.type: must be one of int, str"),
    "template not in kind": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\ntemplates: [python/nope.py.j2]\n"),
        r"patterns/currency\.yaml:3: template 'python/nope\.py\.j2' is not one of kind 'enum'"),
    "kinds table names a missing template": (
        lambda p: append_to(p, "templates/kinds.yaml", "  docs/gone.md.j2: docs/{name}.md\n"),
        r"templates/kinds\.yaml: kind 'endpoint': template 'docs/gone\.md\.j2' does not exist"),
    "template syntax error": (
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "{% for value", "{% for value value"),
        # our words, file and line; the rest is Jinja2's own wording, not pinned here
        r"templates/sql/enum\.sql\.j2:10: template syntax error: \S"),
    "undefined variable": (
        lambda p: replace_in(p, "templates/sql/enum.sql.j2", "{{ pattern.name | sql_ident }} (",
                             "{{ pattern.table_name | sql_ident }} ("),
        r"templates/sql/enum\.sql\.j2:\d+: undefined variable while rendering "
        r"patterns/\w+\.yaml: .*\btable_name\b"),  # the name the template used, in any wording
    "depends_on cycle": (
        lambda p: replace_in(p, "patterns/users.yaml", "kind: entity\n",
                             "kind: entity\ndepends_on: [order_items]\n"),
        r"patterns/\w+\.yaml: depends_on cycle: (\w+ -> )+\w+"),
    "two patterns, one output path": (
        lambda p: replace_in(p, "patterns/user_role.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: sql/currency.sql}\n"),
        r"patterns/\w+\.yaml: output output/sql/currency\.sql is produced twice"),
    "output path with ..": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: ../../evil.sql}\n"),
        r"patterns/currency\.yaml: output path '\.\./\.\./evil\.sql' must be a plain relative"),
    "absolute output path": (
        lambda p: replace_in(p, "patterns/currency.yaml", "kind: enum\n",
                             "kind: enum\noutputs: {sql/enum.sql.j2: /tmp/evil.sql}\n"),
        r"patterns/currency\.yaml: output path '/tmp/evil\.sql' must be a plain relative"),
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
    ran = {n for n, s in built.statuses("codegen:").items() if s == "ran"}
    assert ran == {"codegen:products"}
    assert built.tree() == reference
