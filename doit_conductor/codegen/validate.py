"""Compile/validate generated code with a real parser chosen by the file's type.

Python: the interpreter's compiler.  SQL: executed against an in-memory SQLite
under an authorizer (sql_sandbox.py).
JSON: parsed.  Other types: the command `[tool.conductor.validators]` configures
for the extension, when that program is installed.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path

from doit_conductor.codegen import sql_sandbox
from doit_conductor.errors import UserError


def validate_builtin(path: str, text: str) -> str | None:
    """Raise UserError naming `path` if the code does not compile; return the
    validator used ('python', 'sqlite', 'json'), or None for other types."""
    suffix = Path(path).suffix
    if suffix == ".py":
        _python(path, text)
        return "python"
    if suffix == ".sql":
        _sql(path, text)
        return "sqlite"
    if suffix == ".json":
        _json(path, text)
        return "json"
    return None


def _python(path: str, text: str) -> None:
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise UserError(f"generated Python does not compile: {exc.msg}", path, exc.lineno) from None


def _sql(path: str, text: str) -> None:
    if not sqlite3.complete_statement(text):
        raise UserError("generated SQL ends in an incomplete statement", path)
    try:
        sql_sandbox.execute_script(text)
    except sqlite3.Error as exc:
        raise UserError(f"generated SQL fails in SQLite: {exc}", path) from None


def _json(path: str, text: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"generated JSON does not parse: {exc.msg}", path, exc.lineno) from None


def run_command(command: str, file: str, failure: str, report_as: str) -> str | None:
    """Run a configured command on `file` (a scratch copy of the output `report_as`);
    None if its program is not installed."""
    argv = [part.replace("{file}", file) for part in shlex.split(command)]
    program = shutil.which(argv[0])
    if program is None:
        return None
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).replace(file, report_as).strip().splitlines()
        first = detail[0] if detail else f"exit status {result.returncode}"
        raise UserError(f"{failure} ({argv[0]}): {first}", report_as)
    return argv[0]
