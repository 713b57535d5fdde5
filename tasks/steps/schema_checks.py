"""Pure checks of the generated SQL and JSON Schema files (tasks 11 and 12).

Inputs are (path, text) pairs; results are plain data; problems are `UserError`s
naming the generated file and, where one can be found, the line.
"""
from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass

from doit_conductor.codegen import sql_sandbox
from doit_conductor.errors import UserError

JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})
CATALOG_VERSION = 1


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    text: str


# -- SQL ---------------------------------------------------------------------

def split_statements(text: str) -> list[tuple[int, str]]:
    """Complete SQL statements of `text`, each with the line it starts on."""
    statements, lines, start = [], [], 1
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if not lines and (not line.strip() or line.lstrip().startswith("--")):
            continue
        if not lines:
            start = number
        lines.append(line)
        if sqlite3.complete_statement("".join(lines)):
            statements.append((start, "".join(lines)))
            lines = []
    if lines and "".join(lines).strip():
        raise UserError("SQL statement is not terminated (missing ';')", None, start)
    return statements


def file_shape(text: str) -> dict | None:
    """What one SQL file's statements make in a scratch database of their own:
    the names of what they create, folded as SQLite compares names, and each
    table's columns, single-column primary key (or None) and foreign keys'
    columns as [column, target table, target column or None, whether that key
    has only this column].  None if a statement fails there or SQLite finds a
    key it cannot use or a row without its referenced row: `load_schema` then
    loads every file together, which tells whether the file needs another
    file's table or is wrong, and says where."""
    try:
        statements = split_statements(text)
    except UserError:
        return None
    with sql_sandbox.scratch_database() as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            with sql_sandbox.guarded(conn):
                for _line, statement in statements:
                    conn.execute(statement)
            if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                return None
        except sqlite3.Error:
            return None
        names, tables = [], []
        for kind, name in conn.execute("SELECT type, name FROM sqlite_master ORDER BY rowid"):
            if name != "sqlite_sequence":   # SQLite's own, one per database
                names.append(name.lower())
            if kind == "table":
                tables.append([name, *_shape(conn, name)])
        return {"names": names, "tables": tables}


def load_schema(files: list[SourceFile], shapes: list[dict | None] | None = None) -> dict:
    """Check that every statement of `files`, in order, runs in one in-memory
    SQLite database, and each foreign key: its table exists, was created no
    later than the referring one, and has the referenced column.  Returns the
    tables found.

    Proven from each file's `file_shape` (`shapes`, in the order of `files`,
    if the caller remembers them; computed otherwise); only when they cannot
    prove it (a problem, or a statement that needs another file's table) is
    everything loaded into one database, which finds and names the problem.
    One database of every table costs time quadratic in the tables (SQLite
    scans its schema table after every CREATE): 7.7 s for 10,000 patterns'
    7,058 tables, 1.8-2.0 s a file at a time."""
    if shapes is None:
        shapes = [file_shape(source.text) for source in files]
    tables = _from_shapes(files, shapes)
    return tables if tables is not None else _load_together(files)


def _from_shapes(files: list[SourceFile], shapes: list[dict | None]) -> dict | None:
    """What `_load_together` returns, or None where the shapes cannot tell.

    Equivalent because the sandbox lets generated SQL only create tables and
    indexes and insert rows: a statement's outcome depends on other files'
    objects only through a name taken (checked here) or by reading another
    file's table (an index on it, rows copied from it, a foreign key enforced
    on an insert), which fails in a database of its own: "no such table".
    SQLite checked the keys within a file; across files only the plainest is
    certain to be usable: one column, the primary key."""
    created: dict[str, tuple[int, SourceFile]] = {}
    table_shapes: dict[str, list] = {}
    taken: set[str] = set()
    for position, (source, shape) in enumerate(zip(files, shapes)):
        if shape is None or not taken.isdisjoint(shape["names"]):
            return None
        taken.update(shape["names"])
        for table, *table_shape in shape["tables"]:
            if table not in created:
                created[table] = (position, source)
                table_shapes[table] = table_shape
    tables = {}
    for table, (position, source) in sorted(created.items()):
        columns, _key, foreign_keys = table_shapes[table]
        references = []
        for column, target, target_column, single in foreign_keys:
            if target not in created or created[target][0] > position:
                return None
            target_columns, target_key, _ = table_shapes[target]
            wanted = target_column or target_key
            if wanted is None or wanted not in target_columns:
                return None
            if created[target][0] != position and not (single and wanted == target_key):
                return None
            references.append([column, target, wanted])
        tables[table] = {"file": source.path, "columns": columns,
                         "references": sorted(references)}
    return tables


def _shape(conn, table: str) -> list:
    """A table's columns, its single-column primary key (or None) and its
    foreign keys' columns (see `file_shape`)."""
    info = conn.execute(f"PRAGMA table_info({_quoted(table)})").fetchall()
    keys = [row[1] for row in info if row[5]]
    rows = conn.execute(f"PRAGMA foreign_key_list({_quoted(table)})").fetchall()
    sizes: dict[int, int] = {}
    for row in rows:
        sizes[row[0]] = sizes.get(row[0], 0) + 1
    foreign = [[row[3], row[2], row[4], sizes[row[0]] == 1] for row in rows]
    return [[row[1] for row in info], keys[0] if len(keys) == 1 else None, foreign]


def _load_together(files: list[SourceFile]) -> dict:
    """`load_schema` in one database: slower, and names the first problem."""
    with sql_sandbox.scratch_database() as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        created: dict[str, tuple[int, SourceFile]] = {}
        # sqlite_master's rows seen so far: each file's new tables are those after
        # it (listing every table after every file was quadratic: 22 s at 10,000
        # patterns)
        seen = 0
        for position, source in enumerate(files):
            try:
                statements = split_statements(source.text)
            except UserError as err:
                raise UserError(err.message, source.path, err.line) from None
            for line, statement in statements:
                try:
                    with sql_sandbox.guarded(conn):
                        conn.execute(statement)
                except sqlite3.Error as exc:
                    raise UserError(f"SQLite rejects this statement: {exc}", source.path,
                                    line) from None
            for rowid, kind, table in conn.execute(
                    "SELECT rowid, type, name FROM sqlite_master WHERE rowid > ? ORDER BY rowid",
                    (seen,)):
                seen = rowid
                if kind == "table":
                    created.setdefault(table, (position, source))
        tables = {}
        for table, (position, source) in sorted(created.items()):
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info({_quoted(table)})')]
            references = []
            for row in conn.execute(f'PRAGMA foreign_key_list({_quoted(table)})'):
                target, column, target_column = row[2], row[3], row[4]
                _check_reference(conn, created, table, column, target, target_column,
                                 position, source)
                references.append([column, target, target_column or _primary_key(conn, target)])
            tables[table] = {"file": source.path, "columns": columns,
                             "references": sorted(references)}
        violations = _foreign_key_violations(conn, created)
        if violations:
            table = violations[0][0]
            raise UserError(f"rows of table '{table}' violate a foreign key "
                            f"({len(violations)} violation(s))", created[table][1].path)
        return tables


def _foreign_key_violations(conn, created: dict[str, tuple[int, SourceFile]]) -> list:
    """PRAGMA foreign_key_check's rows; a foreign key SQLite cannot use (its
    column neither the primary key nor unique) is an error naming the first
    file, in dependency order, whose table has one."""
    try:
        return conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.Error as exc:
        failure = exc
    in_order = sorted(created.items(), key=lambda item: item[1][0])
    for table, (_position, source) in in_order:
        try:
            conn.execute(f"PRAGMA foreign_key_check({_quoted(table)})").fetchall()
        except sqlite3.Error as exc:
            failure = exc
            break
    raise UserError(f"SQLite rejects the foreign keys of table '{table}': {failure}",
                    source.path)


def _check_reference(conn, created, table, column, target, target_column, position, source):
    line = _reference_line(source.text, column, target)
    if target not in created:
        raise UserError(f"{table}.{column} references table '{target}', which no generated "
                        "SQL file creates", source.path, line)
    target_position, target_source = created[target]
    if target_position > position:
        raise UserError(f"{table}.{column} references table '{target}', which is created "
                        f"later (by {target_source.path}): not in dependency order",
                        source.path, line)
    target_columns = [row[1] for row in conn.execute(f'PRAGMA table_info({_quoted(target)})')]
    wanted = target_column or _primary_key(conn, target)
    if wanted is None or wanted not in target_columns:
        raise UserError(f"{table}.{column} references {target}({wanted or 'primary key'}), "
                        f"which does not exist (columns: {', '.join(target_columns)})",
                        source.path, line)


def _quoted(name: str) -> str:
    """A table name from the generated schema as a quoted identifier in our own
    introspection statements."""
    return '"' + name.replace('"', '""') + '"'


def _primary_key(conn, table: str) -> str | None:
    keys = [row[1] for row in conn.execute(f'PRAGMA table_info({_quoted(table)})') if row[5]]
    return keys[0] if len(keys) == 1 else None


def _reference_line(text: str, column: str, target: str) -> int | None:
    pattern = re.compile(rf'REFERENCES\s+"?{re.escape(target)}"?\b', re.IGNORECASE)
    fallback = None
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.search(line):
            if re.match(rf'\s*"?{re.escape(column)}"?\s', line) or "FOREIGN KEY" in line.upper():
                return number
            fallback = fallback or number
    return fallback


def combine_schema(files: list[SourceFile]) -> str:
    """One script creating every table in dependency order (deterministic: no
    dates, no absolute paths)."""
    parts = [f"-- Combined schema generated by doit-conductor from {len(files)} SQL file(s),\n"
             "-- in pattern dependency order; do not edit.\n"]
    for source in files:
        parts.append(f"\n-- from {source.path}\n{source.text.rstrip()}\n")
    return "".join(parts)


# -- JSON Schema ---------------------------------------------------------------

def check_json_schema(source: SourceFile, file_name: str) -> dict:
    """Validate one generated JSON schema; its catalog entry."""
    try:
        schema = json.loads(source.text)
    except ValueError as exc:
        raise UserError(f"invalid JSON: {getattr(exc, 'msg', exc)}", source.path,
                        getattr(exc, "lineno", None)) from None

    def fail(message: str, key: str | None = None) -> UserError:
        return UserError(message, source.path, _key_line(source.text, key) if key else None)

    if not isinstance(schema, dict):
        raise fail("a schema must be a JSON object")
    for key in ("$schema", "$id", "title"):
        if not isinstance(schema.get(key), str) or not schema[key]:
            raise fail(f"missing or empty '{key}'", key)
    entry = {"$id": schema["$id"], "file": file_name, "title": schema["title"],
             "description": schema.get("description", "")}
    if "enum" in schema:
        entry.update(type="enum", values=_check_enum(schema["enum"], fail))
        return entry
    kind = schema.get("type")
    _check_type(kind, fail, "type")
    entry["type"] = kind
    if kind == "object":
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise fail("'properties' must be an object", "properties")
        for name, prop in properties.items():
            if not isinstance(prop, dict):
                raise fail(f"property '{name}' must be a schema object", name)
            if "enum" in prop:
                _check_enum(prop["enum"], fail)
            elif "$ref" not in prop:
                _check_type(prop.get("type"), fail, name, f"property '{name}'")
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise fail("'required' must be a list of property names", "required")
        if len(set(required)) != len(required):
            raise fail("'required' lists a property twice", "required")
        missing = [name for name in required if name not in properties]
        if missing:
            raise fail(f"'required' names {', '.join(missing)}, not in 'properties'", "required")
        entry.update(properties=sorted(properties), required=sorted(required))
    return entry


def _check_type(kind, fail, key: str, what: str = "the schema") -> None:
    kinds = kind if isinstance(kind, list) else [kind]
    if not kinds or not all(isinstance(k, str) and k in JSON_TYPES for k in kinds):
        raise fail(f"{what} has type {json.dumps(kind)}; expected one of "
                   f"{', '.join(sorted(JSON_TYPES))} (or an 'enum')", key)


def _check_enum(values, fail) -> list:
    if not isinstance(values, list) or not values:
        raise fail("'enum' must be a non-empty list", "enum")
    if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
        raise fail("'enum' lists a value twice", "enum")
    return values


def _key_line(text: str, key: str) -> int | None:
    needle = json.dumps(key)
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


def schema_catalog(entries: list[tuple[str, dict]]) -> dict:
    """The catalog of (path, entry) pairs, sorted by `$id`; ids must be unique."""
    seen: dict[str, str] = {}
    for path, entry in entries:
        if entry["$id"] in seen:
            raise UserError(f"$id '{entry['$id']}' is also used by {seen[entry['$id']]}", path,
                            None)
        seen[entry["$id"]] = path
    return {"version": CATALOG_VERSION,
            "schemas": sorted((entry for _, entry in entries), key=lambda e: e["$id"])}
