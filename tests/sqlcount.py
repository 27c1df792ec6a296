"""Count the SQL statements something runs (to prove a page or a service does not grow with rows)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextlib.contextmanager
def count_statements() -> Iterator[StatementCounter]:
    """Count every statement sent by any engine in this process while the block runs."""
    counter = StatementCounter()

    def _listener(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")):
            counter.statements.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", _listener)
    try:
        yield counter
    finally:
        sa.event.remove(Engine, "before_cursor_execute", _listener)
