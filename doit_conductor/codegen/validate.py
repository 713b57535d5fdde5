"""Compile/validate generated code with a real parser chosen by the file's type.

Python: the interpreter's compiler.  SQL: executed against an in-memory SQLite
under an authorizer (sql_sandbox.py).
JSON: parsed.  Other types: the command `[tool.conductor.validators]` configures
for the extension, when that program is installed.
"""
from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
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


@dataclass
class Running:
    """A configured command started on a scratch copy, not yet waited for."""

    process: subprocess.Popen
    argv: list[str]
    file: str
    failure: str
    report_as: str

    def wait(self) -> str:
        """The command's program; UserError naming the output if it failed."""
        stdout, stderr = self.process.communicate()
        if self.process.returncode != 0:
            detail = (stdout + stderr).replace(self.file, self.report_as).strip().splitlines()
            first = detail[0] if detail else f"exit status {self.process.returncode}"
            raise UserError(f"{self.failure} ({self.argv[0]}): {first}", self.report_as)
        return self.argv[0]

    def stop(self) -> None:
        """Kill the command and whatever it started (a shell's child would hold
        the output pipes open), unless it was waited for.  It stays in doit's
        process group, so a Ctrl-C at the terminal reaches it as before."""
        if self.process.returncode is not None:
            return
        import psutil   # only on this rare path
        try:
            started = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            started = []
        self.process.kill()     # first: it starts nothing more
        for child in started:
            with contextlib.suppress(psutil.Error):
                child.kill()
        self.process.communicate()


def start_command(command: str, file: str, failure: str, report_as: str) -> Running | None:
    """Start a configured command on `file` (a scratch copy of the output
    `report_as`); None if its program is not installed.  Start it within
    `interrupts.deferred`, with whatever records it for `Running.stop`."""
    argv = [part.replace("{file}", file) for part in shlex.split(command)]
    if shutil.which(argv[0]) is None:
        return None
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return Running(process, argv, file, failure, report_as)
