"""Core (not ORM) access to the few rows that ``seawall bank list`` and ``seawall apikey create`` touch.

Why: declaring every mapped table in :mod:`seawall.store.tables` and importing the ORM cost more than
these commands' whole work. The tables below repeat only the columns these commands read or write, with
the same types, so values are stored and read back exactly as the ORM would; a test checks them column
by column against :mod:`seawall.store.tables`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, Column, Connection, DateTime, Integer, MetaData, String, Table, Text, func, select

from seawall.models.records import Bank
from seawall.store.convert import bank_from_row

metadata = MetaData()

banks = Table(
    "banks", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("default_action", String(10), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("thresholds", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

bank_entries = Table(
    "bank_entries", metadata,
    Column("bank_id", Integer, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("secret_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


def list_banks(conn: Connection) -> list[Bank]:
    """Every bank by name with its entry count, as :meth:`seawall.banks.BankService.list_banks` gives them."""
    counts = {bank_id: int(n) for bank_id, n in conn.execute(
        select(bank_entries.c.bank_id, func.count()).group_by(bank_entries.c.bank_id))}
    return [bank_from_row(row, counts.get(row.id, 0)) for row in conn.execute(select(banks).order_by(banks.c.name))]


def insert_api_key(conn: Connection, *, key_id: str, secret_hash: str, role: str, name: str) -> None:
    """Store a minted key's row (its digest, never the secret), created now."""
    conn.execute(api_keys.insert().values(key_id=key_id, secret_hash=secret_hash, role=role, name=name,
                                          created_at=datetime.now(UTC)))
