"""Insert a row unless an identical one (by a unique constraint) exists, in one statement.

Check-then-insert lets two concurrent identical requests both see "no row" and both insert; the second
then fails on the unique constraint with a server error. ``INSERT … ON CONFLICT DO NOTHING`` (SQLite and
PostgreSQL alike) lets the database decide: the loser inserts nothing and reads the winner's row. On
PostgreSQL a conflicting insert waits for the other transaction to commit, so the read that follows
(a new statement under READ COMMITTED) sees the winner's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

Row = TypeVar("Row")


def insert_unless_exists(s: Session, model: type[Row], values: dict[str, Any],
                         conflict: Sequence[str]) -> Row | None:
    """Insert ``values``; the new row, or None when a row with the same ``conflict`` columns exists."""
    dialect = s.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = pg_insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    elif dialect == "sqlite":
        stmt = sqlite_insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    else:  # pragma: no cover - Seawall runs on SQLite and PostgreSQL only
        stmt = insert(model).values(**values)
    row: Row | None = s.scalars(stmt.returning(model), execution_options={"populate_existing": True}).one_or_none()
    return row
