"""SQLite connection settings: foreign keys on, real transactions and savepoints.

Python's sqlite3 module opens transactions lazily and cannot nest them; taking
over BEGIN ourselves (SQLAlchemy's documented recipe) gives SQLite the same
transaction and SAVEPOINT behaviour the code relies on with PostgreSQL.

Transactions start with BEGIN IMMEDIATE: SQLite cannot upgrade a reading
transaction to a writing one while another connection writes (it fails at
once with "database is locked" instead of waiting), so every transaction
takes the write lock up front and waits its turn (busy_timeout). That
serialises the embedded default's requests, which is what a single-user
laptop database wants; PostgreSQL is the production database.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_installed = False


def _is_sqlite_dbapi(dbapi_connection) -> bool:
    return "sqlite" in type(dbapi_connection).__module__


def install_sqlite_pragmas() -> None:
    """Register the connection and BEGIN hooks for every SQLite engine (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True

    @sa.event.listens_for(Engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        if not _is_sqlite_dbapi(dbapi_connection):
            return
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @sa.event.listens_for(Engine, "begin")
    def _on_begin(connection):
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
