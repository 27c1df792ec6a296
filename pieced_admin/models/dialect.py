"""The few statements that differ between PostgreSQL and SQLite, chosen in one place."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db


def dialect_name() -> str:
    """"postgresql" or "sqlite": the database of the current session."""
    return db.session.get_bind().dialect.name


def insert_for(table: sa.Table):
    """An INSERT for `table` that supports `on_conflict_do_nothing` on the session's database."""
    return (postgresql.insert if dialect_name() == "postgresql" else sqlite.insert)(table)
