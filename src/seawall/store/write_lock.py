"""Take the store's write lock at the start of a transaction that reads a row to decide whether to change it.

PostgreSQL locks the row itself (``SELECT … FOR UPDATE``). SQLite has no row locks, ignores ``FOR UPDATE``,
and Python's driver runs the reads of a transaction outside it until its first write: two copies of one
call (a double-clicked decision, a retried confirmation) would both read the case or order as still open,
then both write, one after the other. A write that changes nothing, as the transaction's first statement,
takes SQLite's single write lock before the row is read, so the read is the newest and nothing else can
commit until this transaction ends.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

R = TypeVar("R")

#: Changes nothing (no row matches) but, as a write, begins the transaction and takes the write lock.
_TAKE_LOCK = text("UPDATE store_identity SET id = id WHERE 1 = 0")


def take_write_lock(s: Session) -> None:
    """On SQLite, hold the write lock from now until ``s`` ends; elsewhere nothing (rows are locked instead)."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(_TAKE_LOCK)


def get_locked(s: Session, entity: type[R], ident: Any, **options: Any) -> R | None:
    """The row of ``entity`` keyed ``ident``, held until ``s`` ends (None when there is none): the write lock
    on SQLite, then the row's own lock (``FOR UPDATE``); ``options`` go to :meth:`Session.get`."""
    take_write_lock(s)
    return s.get(entity, ident, with_for_update=True, **options)


def lock_table_for_append(s: Session, table: str) -> None:
    """Hold off other writers of ``table`` until ``s`` ends, so a read of its newest row stays the newest.

    For a check-then-insert on an append-only table (store a new version unless it equals the newest):
    no existing row can be locked against a row that does not exist yet. PostgreSQL's SHARE ROW EXCLUSIVE
    lock conflicts with itself and with inserts, not with plain reads; SQLite takes its write lock.
    """
    if s.get_bind().dialect.name == "sqlite":
        take_write_lock(s)
    else:
        s.execute(text(f'LOCK TABLE "{table}" IN SHARE ROW EXCLUSIVE MODE'))
