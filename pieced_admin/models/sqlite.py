"""SQLite connection settings: enforce foreign keys, as PostgreSQL does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_installed = False


def install_sqlite_pragmas() -> None:
    """Turn on foreign keys and a busy timeout for every SQLite connection."""
    global _installed
    if _installed:
        return
    _installed = True

    @sa.event.listens_for(Engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # pragma: no cover - trivial
        module = type(dbapi_connection).__module__
        if "sqlite" not in module:
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
