"""The few rows ``seawall bank list`` and ``seawall apikey create`` touch, read and written with the driver alone.

Why: importing SQLAlchemy cost more than these commands' whole work. The tables are declared once, in
:mod:`seawall.store.tables`; here are only the names of the columns these commands read or write and
the conversions SQLAlchemy's column types apply on each dialect (SQLite keeps JSON as text, booleans as
integers and times as naive ISO text in UTC), so values are stored and read back exactly as the ORM
would. A test checks each named column against the ORM's type. The store must be at the newest
migration, checked as :func:`seawall.store.db.ensure_schema` checks it; a store behind it (or one the
driver cannot reach) goes through :func:`~seawall.store.db.ensure_schema` itself, as before.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from seawall.models.records import Bank
from seawall.store.convert import bank_from_row
from seawall.store.driver import DriverTarget, connect, driver_errors
from seawall.store.schema_head import VERSION_QUERY, is_head


class BankColumns(NamedTuple):
    """The ``banks`` columns ``bank list`` reads, by their names in :class:`seawall.store.tables.BankRow`."""

    id: int
    name: str
    description: str
    kind: str
    default_action: str
    labels: list[str]
    thresholds: dict[str, int]
    enabled: bool
    created_at: datetime
    updated_at: datetime


#: How each column read is converted from what the driver returns: the kind of its ORM type.
BANK_COLUMN_KINDS: dict[str, str] = {
    "id": "int", "name": "text", "description": "text", "kind": "text", "default_action": "text",
    "labels": "json", "thresholds": "json", "enabled": "bool", "created_at": "time", "updated_at": "time",
}
#: The ``api_keys`` columns ``apikey create`` writes, with the kind of each.
API_KEY_COLUMN_KINDS: dict[str, str] = {
    "key_id": "text", "secret_hash": "text", "role": "text", "name": "text", "created_at": "time",
}
#: SQLAlchemy's SQLite ``DateTime`` storage format (naive; Seawall stores UTC).
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def open_store(target: DriverTarget, url: str) -> Any:
    """A driver connection to a store at the newest schema; upgraded first (with Alembic) if it is behind."""
    errors = driver_errors(target)
    try:
        conn = connect(target)
    except errors:
        conn = None  # let SQLAlchemy meet (and report) the failure exactly as before
    if conn is not None and _at_head(conn, errors):
        return conn
    if conn is not None:
        conn.close()
    from seawall.store.db import ensure_schema

    ensure_schema(url)
    return connect(target)


def _at_head(conn: Any, errors: tuple[type[Exception], ...]) -> bool:
    try:
        cur = conn.execute(VERSION_QUERY)
        current = {str(r[0]) for r in cur.fetchall()}
    except errors:
        current = set()  # a new store: no version table yet
    conn.rollback()
    return is_head(current)


def _decode(kind: str, value: Any, sqlite: bool) -> Any:
    """A driver value as SQLAlchemy's type gives it (only SQLite needs converting)."""
    if value is None or not sqlite:
        return value
    if kind == "json":
        return json.loads(value)
    if kind == "bool":
        return bool(value)
    if kind == "time":
        return datetime.fromisoformat(value)
    return value


def list_banks(conn: Any, dialect: str) -> list[Bank]:
    """Every bank by name with its entry count, as :meth:`seawall.banks.BankService.list_banks` gives them."""
    sqlite = dialect == "sqlite"
    counts = {int(bank_id): int(n) for bank_id, n in
              conn.execute("SELECT bank_id, count(*) FROM bank_entries GROUP BY bank_id").fetchall()}
    names = BankColumns._fields
    rows = conn.execute(f"SELECT {', '.join(names)} FROM banks ORDER BY banks.name").fetchall()
    conn.rollback()
    banks = []
    for raw in rows:
        row = BankColumns(*(_decode(BANK_COLUMN_KINDS[n], v, sqlite) for n, v in zip(names, raw, strict=True)))
        banks.append(bank_from_row(row, counts.get(row.id, 0)))
    return banks


def insert_api_key(conn: Any, dialect: str, *, key_id: str, secret_hash: str, role: str, name: str) -> None:
    """Store a minted key's row (its digest, never the secret), created now, and commit it."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"key_id": key_id, "secret_hash": secret_hash, "role": role, "name": name,
                              "created_at": now.strftime(SQLITE_TIME_FORMAT) if dialect == "sqlite" else now}
    mark = "?" if dialect == "sqlite" else "%s"
    names = list(API_KEY_COLUMN_KINDS)
    conn.execute(f"INSERT INTO api_keys ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})",
                 [values[n] for n in names])
    conn.commit()
