"""Run generated SQL where it cannot touch anything but a throw-away database.

The checks execute generated SQL to see that SQLite accepts it.  Generated
text may carry pattern text, so it runs in an in-memory database under an
authorizer that allows only what schema files do (create tables and indexes,
insert rows, read and call functions while doing so) and refuses everything
else: ATTACH above all (it opens or creates a file anywhere), PRAGMA, DELETE,
DROP, triggers, views.  A refused statement is a SQLite error like any other.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

# Actions a generated schema file needs; CREATE TABLE also inserts into and
# updates sqlite_master/sqlite_sequence, which SQLite reports as INSERT/UPDATE
# on those tables.
_ALLOWED = frozenset({
    sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_INSERT,
    sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_TRANSACTION,
    sqlite3.SQLITE_REINDEX,   # CREATE INDEX fills the new index through it
})
_SYSTEM_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_sequence"})
_REFUSED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit",
                                "fts3_tokenizer"})


def _authorize(action: int, arg1: str | None, arg2: str | None, database: str | None,
               trigger: str | None) -> int:
    if database not in (None, "main"):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _REFUSED_FUNCTIONS \
            else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 in _SYSTEM_TABLES:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


@contextmanager
def scratch_database() -> Iterator[sqlite3.Connection]:
    """An in-memory database, closed afterwards; run generated SQL inside
    `guarded(conn)`, our own introspection outside it."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def guarded(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The authorizer in force for the duration of the block."""
    conn.set_authorizer(_authorize)
    try:
        yield conn
    finally:
        conn.set_authorizer(None)


def execute_script(text: str) -> None:
    """Execute a generated SQL script in a scratch database, statement by statement,
    under the authorizer; sqlite3.Error for the first statement SQLite or the
    authorizer refuses."""
    with scratch_database() as conn, guarded(conn):
        conn.executescript(text)
