"""SQLAlchemy 2 table mappings. Portable types only, so SQLite and PostgreSQL run the same code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class BankRow(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    kind: Mapped[str] = mapped_column(String(10), default="block", nullable=False)
    default_action: Mapped[str] = mapped_column(String(10), default="block", nullable=False)
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    thresholds: Mapped[dict[str, int]] = mapped_column(JsonType, default=dict, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class BankEntryRow(Base):
    __tablename__ = "bank_entries"
    __table_args__ = (
        UniqueConstraint("bank_id", "signal_type", "value", name="uq_bank_entries_bank_signal_value"),
        Index("ix_bank_entries_signal_value", "signal_type", "value"),
        Index("ix_bank_entries_signal_id", "signal_type", "id"),
        # Ids are never reused: indexes follow new entries by an id cursor.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False)
    signal_type: Mapped[str] = mapped_column(String(32), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    source: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    added_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    meta: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class StoreIdentityRow(Base):
    """One row naming this database, so files derived from it (index snapshots) never outlive it."""

    __tablename__ = "store_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_content_id", "content_id"),
        Index("ix_items_account_id", "account_id"),
        Index("ix_items_received_at", "received_at"),
        Index("ix_items_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    content_id: Mapped[str] = mapped_column(String(300), nullable=False)
    account_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    content_type: Mapped[str] = mapped_column(String(16), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reasons: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    submitted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: ``complete`` (verdict set), ``pending`` (queued for background processing) or ``failed``.
    status: Mapped[str] = mapped_column(String(16), default="complete", server_default="complete", nullable=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)


class MatchRow(Base):
    __tablename__ = "matches"
    __table_args__ = (Index("ix_matches_item_id", "item_id"), Index("ix_matches_entry_id", "entry_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), nullable=False)
    bank_id: Mapped[int] = mapped_column(Integer, nullable=False)
    bank_name: Mapped[str] = mapped_column(String(100), nullable=False)
    bank_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    entry_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    signal_type: Mapped[str] = mapped_column(String(32), nullable=False)
    distance: Mapped[int] = mapped_column(Integer, nullable=False)
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    action: Mapped[str] = mapped_column(String(10), nullable=False)
    variant: Mapped[str | None] = mapped_column(String(20), nullable=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
