"""Pure checks of phase 4 with hand-made inputs: SQL references, JSON schemas,
reproducibility comparison, and the generated-code probe."""
from __future__ import annotations

import json
import os
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doit_conductor.errors import UserError
from tasks.steps import schema_checks, verify
from tasks.steps.schema_checks import (SourceFile, check_json_schema, combine_schema,
                                       load_schema, schema_catalog, split_statements)

USERS = SourceFile("out/sql/users.sql", "-- users\nCREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n"
                                         "    email TEXT\n);\n")
ORDERS = SourceFile("out/sql/orders.sql", "CREATE TABLE orders (\n    id INTEGER PRIMARY KEY,\n"
                                           "    user_id INTEGER REFERENCES users (id)\n);\n")


def test_references_in_dependency_order_resolve():
    tables = load_schema([USERS, ORDERS])
    assert tables["orders"]["references"] == [["user_id", "users", "id"]]
    assert tables["users"]["columns"] == ["id", "email"]


def test_each_table_belongs_to_the_file_that_created_it():
    two = SourceFile("out/sql/two.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"
                                        "CREATE INDEX a_id ON a (id);\n"
                                        "CREATE TABLE b (id INTEGER PRIMARY KEY);\n")
    later = SourceFile("out/sql/later.sql", "CREATE TABLE c (\n    id INTEGER PRIMARY KEY,\n"
                                            "    b_id INTEGER REFERENCES b (id)\n);\n")
    tables = load_schema([two, USERS, later])
    assert {name: t["file"] for name, t in tables.items()} == {
        "a": "out/sql/two.sql", "b": "out/sql/two.sql", "users": "out/sql/users.sql",
        "c": "out/sql/later.sql"}
    assert tables["c"]["references"] == [["b_id", "b", "id"]]


def test_dangling_table_reference_names_file_and_line():
    with pytest.raises(UserError) as err:
        load_schema([ORDERS])
    assert (err.value.file, err.value.line) == ("out/sql/orders.sql", 3)
    assert "references table 'users', which no generated SQL file creates" in str(err.value)


def test_reference_to_a_missing_column():
    bad = SourceFile("o.sql", ORDERS.text.replace("users (id)", "users (uid)"))
    with pytest.raises(UserError, match=r"users\(uid\), which does not exist") as err:
        load_schema([USERS, bad])
    assert err.value.line == 3


def test_reference_to_a_column_that_is_not_unique_is_one_error_naming_the_file():
    bad = SourceFile("o.sql", ORDERS.text.replace("users (id)", "users (email)"))
    with pytest.raises(UserError, match="rejects the foreign keys of table 'orders'") as err:
        load_schema([USERS, bad])
    assert err.value.file == "o.sql"


def test_reference_to_a_table_created_later_is_out_of_order():
    with pytest.raises(UserError, match="created later .*not in dependency order"):
        load_schema([ORDERS, USERS])


def test_sql_syntax_error_names_the_statement_line():
    bad = SourceFile("bad.sql", "-- c\n\nCREATE TABLE a (id INTEGER);\nCREATE TABLEX b (id);\n")
    with pytest.raises(UserError, match="SQLite rejects") as err:
        load_schema([bad])
    assert (err.value.file, err.value.line) == ("bad.sql", 4)


def test_unterminated_statement():
    with pytest.raises(UserError, match="not terminated"):
        load_schema([SourceFile("x.sql", "CREATE TABLE a (id INTEGER)\n")])
    assert [line for line, _ in split_statements("-- a\nSELECT 1;\n\nSELECT\n 2;\n")] == [2, 4]


# tables that only work together: an autoincrement counter in two files, an
# enum's rows, a reference across many files, a self-reference
LIBRARY = [
    USERS,
    SourceFile("s/colour.sql", "CREATE TABLE colour (\n    code TEXT NOT NULL PRIMARY KEY\n);\n"
                               "INSERT INTO colour (code) VALUES\n    ('red'),\n    ('blue');\n"),
    SourceFile("s/log.sql", "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT);\n"
                            "CREATE INDEX log_at ON log (at);\n"),
    ORDERS,
    SourceFile("s/item.sql", "CREATE TABLE item (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                             "    order_id INTEGER NOT NULL REFERENCES orders (id),\n"
                             "    colour TEXT REFERENCES colour,\n"
                             "    parent INTEGER REFERENCES item (id)\n);\n"),
]


def one_database(files: list[SourceFile]) -> dict:
    """load_schema's answer for `files` loaded as one file (so into one
    database), without the file names."""
    tables = load_schema([SourceFile("all.sql", combine_schema(files))])
    return {name: {**table, "file": None} for name, table in tables.items()}


def test_the_tables_are_those_of_one_database_of_every_file():
    tables = load_schema(LIBRARY)
    assert {name: {**table, "file": None} for name, table in tables.items()} == \
        one_database(LIBRARY)
    assert tables["item"]["references"] == [["colour", "colour", "code"],
                                            ["order_id", "orders", "id"],
                                            ["parent", "item", "id"]]
    assert tables["sqlite_sequence"]["file"] == "s/log.sql"
    assert tables["item"]["file"] == "s/item.sql"


def test_a_valid_library_needs_no_database_of_every_table(monkeypatch):
    """SQLite scans its schema table after each CREATE: one database of every
    table was quadratic (7.7 s of 10,000 patterns' sql-schema)."""
    expected = load_schema(LIBRARY)

    def together(files):
        raise AssertionError("loaded into one database")
    monkeypatch.setattr(schema_checks, "_load_together", together)
    assert load_schema(LIBRARY) == expected
    # the shapes a caller remembered are used, not computed again
    shapes = [schema_checks.file_shape(source.text) for source in LIBRARY]
    monkeypatch.setattr(schema_checks, "file_shape", together)
    assert load_schema(LIBRARY, shapes) == expected


@pytest.mark.parametrize("texts", [
    ["CREATE INDEX users_email ON users (email);\n"],                # on another file's table
    ["INSERT INTO users (id, email) VALUES (1, 'a@b');\n"],          # rows into it
    ["CREATE TABLE copy AS SELECT * FROM users;\n"],                 # read from it
    ["CREATE TABLE o2 (id INTEGER REFERENCES users (id));\n"
     "INSERT INTO users (id) VALUES (7);\nINSERT INTO o2 (id) VALUES (7);\n"],  # a key enforced
    ["CREATE TABLE codes (code TEXT UNIQUE);\n",                      # a unique, not primary, key
     "CREATE TABLE uses (c TEXT REFERENCES codes (code));\n"],
    ["CREATE TABLE pair (a INTEGER, b INTEGER, PRIMARY KEY (a, b));\n",  # a key of two columns
     "CREATE TABLE pc (x INTEGER, y INTEGER, FOREIGN KEY (x, y) REFERENCES pair (a, b));\n"],
])
def test_statements_reading_another_files_tables_give_the_one_database_answer(texts):
    files = [USERS, *(SourceFile(f"s/more{n}.sql", text) for n, text in enumerate(texts))]
    tables = load_schema(files)
    assert {name: {**table, "file": None} for name, table in tables.items()} == \
        one_database(files)


@pytest.mark.parametrize("text, message", [
    ("CREATE TABLE USERS (id INTEGER);\n", "already exists"),
    ("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, other TEXT);\n", None),
    ("CREATE TABLE t (id INTEGER);\nCREATE INDEX Users ON t (id);\n", "already"),
    ("CREATE TABLE o3 (id INTEGER REFERENCES users (id));\n"
     "INSERT INTO o3 (id) VALUES (9);\n", "FOREIGN KEY"),
])
def test_a_name_or_row_clash_across_files_is_found_as_in_one_database(text, message):
    """A clash only the one database sees (another file's name, case folded; a
    table that IF NOT EXISTS leaves alone; a row without its referenced row)."""
    files = [USERS, SourceFile("s/clash.sql", "-- c\n" + text)]
    if message is None:
        assert load_schema(files)["users"]["columns"] == ["id", "email"]
        return
    with pytest.raises(UserError, match=message) as err:
        load_schema(files)
    assert (err.value.file, err.value.line) == ("s/clash.sql", 2 if "INSERT" not in text
                                                and "INDEX" not in text else 3)


@given(st.lists(st.sampled_from(["a", "b", "__init__.py", "m.py", "x.y.py", ".", "", "c"]),
                min_size=1, max_size=4), st.sampled_from(["root", "root/", "/abs/root", "."]))
def test_module_names_are_those_pathlib_reads(parts, root):
    path = f"{root.rstrip('/')}/" + "/".join(parts)
    try:
        relative = PurePosixPath(path).relative_to(root)
    except ValueError:
        return
    expected = list(relative.with_suffix("").parts) if relative.name else None
    if not expected:
        return
    assert verify.module_names([path], root) == [".".join(
        expected[:-1] if expected[-1] == "__init__" else expected)]


def test_combined_schema_keeps_order_and_loads():
    text = combine_schema([USERS, ORDERS])
    assert text.index("CREATE TABLE users") < text.index("CREATE TABLE orders")
    assert "-- from out/sql/orders.sql" in text
    assert load_schema([SourceFile("all.sql", text)])["orders"]["references"]


def schema(**changes) -> SourceFile:
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "a.schema.json",
                "title": "A", "type": "object",
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                "required": ["id"]}
    document.update(changes)
    return SourceFile("out/schemas/a.schema.json", json.dumps(document, indent=2))


def test_good_schema_entry():
    entry = check_json_schema(schema(), "a.schema.json")
    assert entry["properties"] == ["id", "name"] and entry["required"] == ["id"]
    enum = check_json_schema(SourceFile("e.json", json.dumps(
        {"$schema": "s", "$id": "e", "title": "E", "enum": ["a", "b"]})), "e.json")
    assert enum["type"] == "enum" and enum["values"] == ["a", "b"]


@pytest.mark.parametrize("changes, message, line", [
    ({"required": ["id", "missing"]}, "'required' names missing, not in 'properties'", 14),
    ({"type": "dict"}, 'type "dict"', 5),
    ({"properties": {"id": {"type": "int"}}}, "property 'id' has type", 7),
    ({"$id": ""}, "missing or empty '$id'", 3),
    ({"enum": ["a", "a"]}, "'enum' lists a value twice", None),
])
def test_schema_errors_name_file_and_line(changes, message, line):
    with pytest.raises(UserError) as err:
        check_json_schema(schema(**changes), "a.schema.json")
    assert message in err.value.message
    assert err.value.file == "out/schemas/a.schema.json"
    if line is not None:
        assert err.value.line == line


def test_invalid_json_has_its_line():
    with pytest.raises(UserError, match="invalid JSON") as err:
        check_json_schema(SourceFile("x.json", '{\n  "a": 1,\n  oops\n}'), "x.json")
    assert err.value.line == 3


def test_catalog_sorted_by_id_and_ids_unique():
    b = check_json_schema(schema(**{"$id": "b"}), "b.json")
    a = check_json_schema(schema(**{"$id": "a"}), "a.json")
    assert [e["$id"] for e in schema_catalog([("b.json", b), ("a.json", a)])["schemas"]] == ["a", "b"]
    with pytest.raises(UserError, match="also used by one.json") as err:
        schema_catalog([("one.json", a), ("two.json", dict(a))])
    assert err.value.file == "two.json"


def test_compare_trees_names_the_first_differing_file_and_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clean = tmp_path / "clean"
    for name, built, fresh in (("out/a.txt", "same\n", "same\n"),
                               ("out/b.txt", "1\n2\n3\n", "1\n2\nthree\n")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(built)
        (clean / name).parent.mkdir(parents=True, exist_ok=True)
        (clean / name).write_text(fresh)
    with pytest.raises(UserError) as err:
        verify.compare_trees(clean, ["out/a.txt", "out/b.txt"])
    assert (err.value.file, err.value.line) == ("out/b.txt", 3)
    (clean / "out/b.txt").write_text("1\n2\n3\n")
    verify.compare_trees(clean, ["out/a.txt", "out/b.txt"])
    verify.check_all_planned(["out/a.txt"], ["out/a.txt", "out/b.txt"])
    with pytest.raises(UserError, match="no pattern plans it"):
        verify.check_all_planned(["out/a.txt", "out/b.txt"], ["out/a.txt"])


def test_a_pattern_is_rendered_again_unless_its_raw_inputs_and_files_are_as_last_matched():
    keys = {"a": "k1", "b": "k2", "c": "k3", "d": "k4"}
    outputs = {"a": {"out/a": "s1"}, "b": {"out/b": "s2"}, "c": {"out/c": "s3"}, "d": {}}
    previous = {"a": {"key": "k1", "outputs": {"out/a": "s1"}},
                "b": {"key": "old", "outputs": {"out/b": "s2"}},      # an input changed
                "c": {"key": "k3", "outputs": {"out/c": "forged"}}}   # a file changed
    assert verify.patterns_to_render(keys, outputs, previous) == ["b", "c", "d"]
    assert verify.patterns_to_render(keys, outputs, {}) == ["a", "b", "c", "d"]


def write_package(root, modules: dict[str, str]) -> list[str]:
    package = root / "conductor_models"
    package.mkdir(parents=True)
    for name, text in modules.items():
        (package / f"{name}.py").write_text(text)
    return [str(package / f"{name}.py") for name in sorted(modules)]


@pytest.mark.slow
def test_probe_imports_each_module_alone_and_names_the_failing_line(tmp_path):
    files = write_package(tmp_path, {
        "good": "VALUE = 1\n",
        "needs_json": "import json\nVALUE = json.dumps(1)\n",
        "bad": "A = 1\nraise RuntimeError('boom')\n",
        "relies_on_order": "import sys\nGOOD = sys.modules['conductor_models.good']\n"})
    answer = verify.run_probe({"mode": "import", "path": [str(tmp_path)], "package": "conductor_models",
                               "modules": verify.module_names(files, str(tmp_path))})
    by_name = {r["module"]: r for r in answer["modules"]}
    assert by_name["conductor_models.good"]["ok"] and by_name["conductor_models.needs_json"]["ok"]
    assert by_name["conductor_models.relies_on_order"]["ok"] is False   # imported in isolation
    error = verify.import_failure(answer["modules"])
    assert error.file.endswith("conductor_models/bad.py") and error.line == 2
    assert "RuntimeError: boom" in error.message and "1 more module" in error.message


@pytest.mark.slow
def test_probe_reports_the_generated_files_each_import_executed(tmp_path):
    files = write_package(tmp_path, {
        "base": "VALUE = 1\n",
        "user": "from conductor_models.base import VALUE\nTWICE = VALUE * 2\n",
        "alone": "import json\n"})
    answer = verify.run_probe({"mode": "import", "path": [str(tmp_path)], "package": "conductor_models",
                               "modules": verify.module_names(files, str(tmp_path))})
    closures = {r["module"].rsplit(".", 1)[1]: [os.path.basename(f) for f in r["closure"]]
                for r in answer["modules"]}
    assert closures == {"alone": ["alone.py"], "base": ["base.py"], "user": ["base.py", "user.py"]}


def test_an_import_result_holds_while_every_file_it_executed_is_unchanged():
    checksums = {"m/a.py": "1", "m/b.py": "2", "m/c.py": "3"}
    previous = {"m.a": {"public": 1, "closure": {"m/a.py": "1", "m/b.py": "2"}},
                "m.b": {"public": 1, "closure": {"m/b.py": "2"}},
                "m.c": {"public": 1, "closure": {"m/c.py": "old"}},
                "m.d": {"public": 1},                         # recorded before closures
                "m.e": {"public": 1, "closure": None}}        # loaded an unlisted file
    modules = ["m.a", "m.b", "m.c", "m.d", "m.e", "m.new"]
    assert set(verify.unchanged_results(modules, previous, checksums)) == {"m.a", "m.b"}
    # a file a module imports changed: that module is imported again, and its importer
    changed = {**checksums, "m/b.py": "2b"}
    assert verify.unchanged_results(modules, previous, changed) == {}
    # ... or is gone
    assert set(verify.unchanged_results(modules, previous, {"m/a.py": "1"})) == set()
    assert verify.closure_by_checksum([os.path.abspath("m/a.py"), os.path.abspath("m/x.py")],
                                      checksums) is None


@pytest.mark.slow
def test_probe_runs_tests_and_names_the_failing_test(tmp_path):
    write_package(tmp_path, {"m": "def double(x):\n    return x * 2\n"})
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_m.py").write_text(
        "import unittest\nfrom conductor_models.m import double\n\n"
        "class T(unittest.TestCase):\n    def test_ok(self):\n        self.assertEqual(double(2), 4)\n\n"
        "    def test_wrong(self):\n        self.assertEqual(double(2), 5)\n")
    answer = verify.run_probe({"mode": "tests", "path": [str(tmp_path)], "start": str(tests)})
    assert (answer["run"], answer["passed"], answer["failures"]) == (2, 1, 1)
    assert answer["per_module"] == {"test_m": 2}
    [problem] = answer["problems"]
    assert problem["test"] == "test_m.T.test_wrong" and problem["line"] == 9
    assert problem["file"].endswith("tests/test_m.py") and "5" in problem["message"]


@pytest.mark.slow
def test_probe_runs_the_test_modules_named_each_with_what_it_executed(tmp_path):
    write_package(tmp_path, {"m": "def double(x):\n    return x * 2\n", "unused": "X = 1\n"})
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_m.py").write_text(
        "import unittest\nfrom conductor_models.m import double\n\n"
        "class T(unittest.TestCase):\n    def test_ok(self):\n        self.assertEqual(double(2), 4)\n\n"
        "    @unittest.skip('later')\n    def test_later(self):\n        pass\n")
    (tests / "test_other.py").write_text("raise RuntimeError('never imported')\n")
    answer = verify.run_probe({"mode": "tests", "path": [str(tmp_path)], "start": str(tests),
                               "modules": ["test_m"], "package": "conductor_models"})
    assert not answer["problems"] and list(answer["modules"]) == ["test_m"]
    result = answer["modules"]["test_m"]
    assert (result["run"], result["passed"], result["skipped"]) == (2, 1, 1)
    assert [os.path.basename(f) for f in result["closure"]] == ["m.py", "test_m.py"]


@pytest.mark.slow
def test_probe_takes_a_module_list_longer_than_one_argument_may_be(tmp_path):
    # Linux refuses a single argv entry over 128 KiB (E2BIG): 10,000 patterns'
    # module names are more than that.  The list goes on stdin, so this works
    # and the command line stays the same whatever the library's size.
    name = "m_" + "x" * 60
    files = write_package(tmp_path, {name: "VALUE = 1\n"})
    modules = verify.module_names(files, str(tmp_path)) * 2_500
    assert len(json.dumps(modules)) > 128 * 1024
    answer = verify.run_probe({"mode": "import", "path": [str(tmp_path)],
                               "package": "conductor_models", "modules": modules})
    assert len(answer["modules"]) == 2_500 and all(r["ok"] for r in answer["modules"])
    assert all(len(arg) < 4096 for arg in verify.probe_command())
