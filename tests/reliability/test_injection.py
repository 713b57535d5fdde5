"""Pattern text never runs as code: hostile descriptions and field docs reach every
output kind (Python modules and tests, SQL, JSON schemas, docs, the combined
schema) only as data, and the SQL checks cannot touch a file outside the repo."""
from __future__ import annotations

import ast
import json
import re
import sqlite3
from pathlib import Path

import pytest

from doit_conductor.codegen import sql_sandbox
from tests.reliability.conftest import assert_one_line_error, run, stray_temps

def payloads(victim: str, marker: str) -> dict[str, str]:
    """Attacks on each language; paths relative to the project (the generated
    files have a line-length limit, and the run's working directory is the root)."""
    return {
        "sql comment": f"x\nATTACH DATABASE '{victim}' AS v; DELETE FROM v.t; --",
        "sql string": "x'); ATTACH DATABASE '" + str(victim) + "' AS v; DELETE FROM v.t; --",
        "python docstring": f'x"""\nimport os; os.system("touch {marker}")\n"""',
        "python escape": "x\\\nimport os\r__import__('os').system('touch " + str(marker) + "')#",
        "line separator": f"x\u2028import os\u2029os.system('touch {marker}')\x0c",
        "json": 'x", "evil": true, "y": "',
    }


def victim_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()


def victim_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        conn.close()


def schema_tables(path: Path) -> list[str]:
    with sql_sandbox.scratch_database() as conn:
        with sql_sandbox.guarded(conn):
            conn.executescript(path.read_text())
        return sorted(row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))


def set_description(project, relative: str, text: str) -> None:
    path = project.path(relative)
    lines = [line for line in path.read_text().splitlines(keepends=True)
             if not line.startswith("description:")]
    lines.insert(2, f"description: {json.dumps(text)}\n")
    path.write_text("".join(lines))


# Each attack goes into the description of a pattern of each kind (and the
# field docs of users), all in one build: one run checks them all.
TARGETS = ["users", "currency", "get_user", "products", "order_status", "list_products"]


def test_hostile_text_stays_data_in_every_output(fresh, reference, tmp_path):
    # `fresh` is tmp_path/built: ../ leads to tmp_path, outside the project.
    victim, marker = tmp_path / "v.db", tmp_path / "m"
    victim_db(victim)
    attacks = dict(zip(TARGETS, payloads("../v.db", "../m").values()))
    saved = {name: fresh.path(f"patterns/{name}.yaml").read_bytes() for name in TARGETS}
    for name, text in attacks.items():
        set_description(fresh, f"patterns/{name}.yaml", text)
    users = fresh.path("patterns/users.yaml")
    users.write_text(users.read_text().replace('doc: "a user_role value"',
                                               f"doc: {json.dumps(attacks['currency'])}"))
    result = run(fresh)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert victim_rows(victim) == 1 and not marker.exists()

    out = fresh.path("output")
    for name, text in attacks.items():
        module = out / f"python/conductor_models/{name}.py"
        tree = ast.parse(module.read_text())
        assert ast.get_docstring(tree, clean=False).endswith(text + "."), name
        assert [type(node).__name__ for node in tree.body[:2]] == ["Expr", "ImportFrom"]
        schema = json.loads((out / f"schemas/{name}.schema.json").read_text())
        assert schema["description"] == text and "evil" not in schema
    # The combined schema creates exactly the tables of the clean build, and no
    # statement outside a comment mentions the payload.
    assert schema_tables(out / "schema.sql") == schema_tables(reference.path("output/schema.sql"))
    for sql in [out / "schema.sql", *sorted((out / "sql").glob("*.sql"))]:
        code = [line for line in sql.read_text().splitlines() if not line.startswith("--")]
        assert not any("ATTACH" in line for line in code), sql
    # Undo: the next normal run is the clean build again.
    for name, data in saved.items():
        fresh.path(f"patterns/{name}.yaml").write_bytes(data)
    again = run(fresh)
    assert again.returncode == 0, again.stdout + again.stderr
    assert fresh.tree() == reference.tree()
    assert stray_temps(fresh.root) == []


def test_sql_check_refuses_attach_even_from_a_template(fresh, reference, tmp_path):
    """A template that writes ATTACH itself: the check refuses to run it, the
    outside database is untouched, one line names the generated file."""
    victim = tmp_path / "victim.db"
    victim_db(victim)
    template = fresh.path("templates/sql/enum.sql.j2")
    original = template.read_bytes()
    template.write_text(template.read_text()
                        + f"ATTACH DATABASE '{victim}' AS v;\nDELETE FROM v.t;\n")
    result = run(fresh)
    # our words only: what follows them is SQLite's own (its authorizer refused)
    assert_one_line_error(result, "output/sql/", "generated SQL fails in SQLite:")
    assert victim_rows(victim) == 1
    template.write_bytes(original)
    again = run(fresh)
    assert again.returncode == 0, again.stdout + again.stderr
    assert fresh.tree() == reference.tree()


@pytest.mark.parametrize("statement", [
    "ATTACH DATABASE '{victim}' AS v", "PRAGMA writable_schema = 1",
    "CREATE TABLE a (x); DELETE FROM a", "CREATE TABLE a (x); DROP TABLE a",
    "CREATE TRIGGER tr AFTER INSERT ON sqlite_master BEGIN SELECT 1; END",
    "VACUUM INTO '{victim}'", "SELECT load_extension('x')",
])
def test_sandbox_allows_only_schema_statements(tmp_path, statement):
    victim = tmp_path / "victim.db"
    with pytest.raises(sqlite3.Error):
        sql_sandbox.execute_script(statement.format(victim=victim) + ";")
    assert not victim.exists()


def test_sandbox_runs_a_schema_file():
    sql_sandbox.execute_script("CREATE TABLE a (id INTEGER PRIMARY KEY, s TEXT CHECK "
                               "(length(s) <= 3));\nCREATE INDEX ai ON a (s);\n"
                               "INSERT INTO a VALUES (1, 'x');")


def test_filters_are_no_ops_on_plain_values_and_quote_the_rest():
    from jinja2 import TemplateRuntimeError
    from doit_conductor.codegen import escape
    assert escape.sql_ident("users") == "users"
    assert escape.sql_ident('a"; DROP') == '"a""; DROP"'
    assert escape.sql_string("it's") == "'it''s'"
    assert escape.one_line("a\nb\u2028c") == "a\\nb\\u2028c"
    assert escape.py_docstring('say """hi"""\\') == 'say \\"\\"\\"hi\\"\\"\\"\\\\'
    assert escape.py_string("a\u2029") == '"a\\u2029"'
    assert json.loads(escape.json_value({"d": "x\u2028\"y"})) == {"d": "x\u2028\"y"}
    with pytest.raises(TemplateRuntimeError):
        escape.py_ident("os.system")


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every Markdown table row, split at unescaped `|` (lines end
    where CommonMark ends them: at \\n, \\r\\n or a lone \\r)."""
    rows = []
    for line in re.split(r"\r\n|\r|\n", markdown):
        if line.startswith("|"):
            cells, cell, escaped = [], "", False
            for char in line[1:]:
                if char == "|" and not escaped:
                    cells.append(cell)
                    cell = ""
                else:
                    cell += char
                escaped = char == "\\" and not escaped
            rows.append(cells)
    return rows


def test_a_field_doc_cannot_break_out_of_the_docs_table(fresh, reference):
    # A carriage return, U+2028 and a form feed end a line for some Markdown
    # readers and for str.splitlines; a trailing backslash would escape the
    # cell's closing `|`; ESC is a terminal control character.
    doc = "first\r| evil | row |\u2028second\x0c| x |\x1b[31m\\"
    users = fresh.path("patterns/users.yaml")
    saved = users.read_bytes()
    users.write_text(users.read_text().replace('doc: "a user_role value"', f"doc: {json.dumps(doc)}")
                     .replace("description: Registered shop users",
                              f"description: {json.dumps('shop users' + chr(13) + '# evil heading')}"))
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    page = fresh.path("output/docs/users.md").read_text()
    rows = table_rows(page)
    # header, delimiter, six fields: five cells each, the doc in the role row
    assert [len(row) for row in rows] == [5] * 8, rows
    assert [row[0].strip() for row in rows[2:]] == [
        "`id`", "`email`", "`display_name`", "`role`", "`joined_on`", "`newsletter`"]
    assert "evil" in rows[5][4] and "\x1b" not in page and "\r" not in page
    index = fresh.path("output/docs/index.md").read_text()
    assert "\r" not in index and not any(line.startswith("# evil") for line in index.split("\n"))
    users.write_bytes(saved)
    assert run(fresh).returncode == 0
    assert fresh.tree() == reference.tree()


def test_control_characters_of_a_description_reach_the_docs_page_escaped(fresh, reference):
    """NUL, a terminal escape and a bidirectional override (U+202E) written as
    YAML escapes used to reach output/docs/<name>.md raw."""
    users = fresh.path("patterns/users.yaml")
    saved = users.read_bytes()
    users.write_text(users.read_text().replace(
        "description: Registered shop users",
        'description: "a\\u0000b\\u202ec \\x1b[31m red\\nsecond line"'))
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    page = fresh.path("output/docs/users.md").read_text()
    assert not any(c in page for c in "\x00\x1b\u202e")
    assert "a\\x00b\\u202ec \\x1b[31m red\nsecond line" in page
    catalog = fresh.path("output/schemas/index.json").read_text()
    assert not any(c in catalog for c in "\x00\x1b\u202e")
    assert "\\u202e" in catalog
    users.write_bytes(saved)
    assert run(fresh).returncode == 0
    assert fresh.tree() == reference.tree()
