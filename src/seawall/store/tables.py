"""SQLAlchemy 2 table mappings. Portable types only, so SQLite and PostgreSQL run the same code."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import text as sa_text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def key_text(length: int) -> String:
    """A text column of a bank entry's key: compared byte by byte on PostgreSQL (``COLLATE "C"``, migration
    0028), not by the database's locale, whose ``strcoll`` dominated bulk writes; SQLite compares bytes
    already."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def value_digest(value: str) -> str:
    """The key bank entries are unique by: 128 bits of SHA-256 of the normalised value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def value_digests(values: list[str]) -> list[str]:
    """:func:`value_digest` of many values (a page of a feed) without a Python call per value."""
    sha = hashlib.sha256
    return [sha(v.encode("utf-8")).hexdigest()[:32] for v in values]


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
        # unique by a digest: values such as a video's frame list are too long for a B-tree key
        UniqueConstraint("bank_id", "signal_type", "value_digest", name="uq_bank_entries_bank_signal_digest"),
        Index("ix_bank_entries_signal_id", "signal_type", "id"),
        # Ids are never reused: indexes follow new entries by an id cursor.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False)
    signal_type: Mapped[str] = mapped_column(key_text(32), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    #: :func:`value_digest` of ``value``.
    value_digest: Mapped[str] = mapped_column(key_text(32), nullable=False)
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    source: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    added_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    meta: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class BankContentRow(Base):
    """A text or picture banked as itself (not as a hash), kept so its signals can be computed again
    (``seawall bank rehash``) when normalisation changes or a new signal type is added. Entries computed
    from it carry ``meta["content"] = id``. Videos are not kept (their hashes are the costly part)."""

    __tablename__ = "bank_contents"
    __table_args__ = (UniqueConstraint("bank_id", "digest", name="uq_bank_contents_bank_digest"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False)
    #: ``text`` or ``image``.
    content_type: Mapped[str] = mapped_column(String(16), nullable=False)
    #: SHA-256 of the bytes (a text's UTF-8).
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    source: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    added_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
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
        #: an account's items newest first (account timeline, case page); also its equality look-ups
        Index("ix_items_account_received", "account_id", "received_at"),
        Index("ix_items_received_at", "received_at"),
        Index("ix_items_status", "status"),
        # NULL for uploads sent without ``once``: only ``once`` uploads are unique per submitter and content id
        Index("uq_items_once_key", "once_key", unique=True),
        Index("ix_items_stage2_pending", "stage2_pending"),
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
    #: Views or followers the platform reported, if it did: how far the item could spread (review priority).
    reach: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: :func:`seawall.uploads.ingest.once_key` for uploads sent with ``once``, so a re-send cannot store a second item.
    once_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Comma-separated stage-2 tasks (``ocr``…) still to run after the in-request verdict; NULL when final.
    stage2_pending: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ItemUploadRow(Base):
    """The bytes of a deferred upload until its background stage finishes (scale-out mode), and of every
    upload waiting for its stage-2 tasks (written in the item's own transaction, so a crash loses none).

    Kept in the store rather than on a node's disk so any worker can process the item; deleted in the
    transaction that writes the item's final state.
    """

    __tablename__ = "item_uploads"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class ItemContentRow(Base):
    """What an item was (its bytes, or its text as UTF-8) and the platform's context for it, kept as evidence.

    Written for every item that was not allowed, for any item whose submitter asked to keep it, and for a
    reported item whose content the platform sent with the report, so that what is blocked, reported or
    later removed can be shown to a reviewer, explained in an appeal and preserved for the six months the
    EU TCO Regulation (Art. 6) requires after a removal.
    """

    __tablename__ = "item_content"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    #: The platform's own record of the upload (e.g. the full Matrix event), as it sent it.
    context: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    #: ``flagged`` (kept because the verdict was not allow), ``asked`` (the submitter asked to keep it) or
    #: ``reported`` (sent with a user report, checked against the item's SHA-256).
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


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


# --- rules, decisions and actions -------------------------------------------------------------------


class RuleSetRow(Base):
    """One version of the policy rules. Never updated: a change is a new row, the highest id is active."""

    __tablename__ = "rule_sets"
    # Versions are never reused, even after the newest one is deleted by hand.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class RuntimeFlagRow(Base):
    """Operator switches that every node must see at once (crisis mode), kept in the store, not in env."""

    __tablename__ = "runtime_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class DecisionRow(Base):
    """Why an item got its verdict: the rule set version, the rules that fired, the facts they saw."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_item_id", "item_id"), Index("ix_decisions_account_id", "account_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    automated: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    rule_set_version: Mapped[int] = mapped_column(Integer, nullable=False)
    fired: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    facts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    reasons: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class ActionRow(Base):
    """One action carried out for a decision and what came of it."""

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_item_id", "item_id"), Index("ix_actions_decision_id", "decision_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False)
    item_id: Mapped[str] = mapped_column(String(32), nullable=False)
    account_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: ``done`` or ``skipped`` (e.g. a strike for an item without an account).
    status: Mapped[str] = mapped_column(String(16), default="done", nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


# --- accounts ------------------------------------------------------------------------------------------


class AccountRow(Base):
    """A platform's pseudonymous account id, first seen when it uploaded something."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


#: A strike that counts for its item: one per account and item (migration 0031), withdrawn ones aside.
_OPEN_ITEM_STRIKE = sa_text("item_id IS NOT NULL AND withdrawn_at IS NULL")


class StrikeRow(Base):
    __tablename__ = "strikes"
    __table_args__ = (Index("ix_strikes_account_expires", "account_id", "expires_at"),
                      Index("uq_strikes_account_item_open", "account_id", "item_id", unique=True,
                            postgresql_where=_OPEN_ITEM_STRIKE, sqlite_where=_OPEN_ITEM_STRIKE))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Set when an upheld appeal withdrew it (it stays on record); the item may then be struck again.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SuspensionRow(Base):
    __tablename__ = "suspensions"
    __table_args__ = (Index("ix_suspensions_account_id", "account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    #: ``temporary`` (ends at ``ends_at``) or ``permanent``.
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AppealRow(Base):
    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_account_id", "account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    #: ``received`` until the review console decides it.
    status: Mapped[str] = mapped_column(String(16), default="received", nullable=False)
    submitted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: The appeal's case in the review queue, and the reviewer decision it contests (if a person decided).
    case_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    case_decision_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The ``decisions`` row contested (automated or a reviewer's): its actions are what an upheld appeal undoes.
    decision_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: ``upheld`` (the user was right: actions reversed) or ``rejected`` (the decision stands).
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: What an upheld appeal undid: restored item, withdrawn strikes, lifted suspensions, removed entries.
    reversal: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)


#: One appeal waiting for a decision per item, and one per account against a suspension as such.
_RECEIVED_ITEM = sa_text("status = 'received' AND item_id IS NOT NULL")
_RECEIVED_ACCOUNT = sa_text("status = 'received' AND item_id IS NULL")
Index("uq_appeals_received_item", AppealRow.item_id, unique=True,
      postgresql_where=_RECEIVED_ITEM, sqlite_where=_RECEIVED_ITEM)
Index("uq_appeals_received_account", AppealRow.account_id, unique=True,
      postgresql_where=_RECEIVED_ACCOUNT, sqlite_where=_RECEIVED_ACCOUNT)


class ReportRow(Base):
    """A user's report of an item, forwarded by the platform; reports of one item share one open case."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_case_id", "case_id"),
                      UniqueConstraint("dedupe_key", name="uq_reports_dedupe_key"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    item_id: Mapped[str] = mapped_column(String(32), nullable=False)
    reporter_account: Mapped[str | None] = mapped_column(String(300), nullable=True)
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    submitted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: SHA-256 of (case, reporter, category) when the reporter is named: one reporter's re-sent report is
    #: one report. Anonymous reports (and reports stored before this column) carry none.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class BankEntryMediaRow(Base):
    """A small thumbnail of the media a reviewer decision added to a bank, for side-by-side comparison."""

    __tablename__ = "bank_entry_media"

    entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entries.id", ondelete="CASCADE"), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    case_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


# --- webhooks and their outbox ------------------------------------------------------------------------


class WebhookRow(Base):
    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_webhooks_dedupe_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: ``whsec_…``; kept in clear because signing needs it.
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: SHA-256 of the URL and the sorted event set (:func:`webhook_key`): one subscription per pair.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


def webhook_key(url: str, event_types: list[str]) -> str:
    """The identity of a subscription: its URL and its set of event types (order and repeats ignored)."""
    return hashlib.sha256("\n".join([url, *sorted(set(event_types))]).encode("utf-8")).hexdigest()


class WebhookEventRow(Base):
    """The outbox: written in the same transaction as the decision that caused it."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The ``webhook-id`` header: the same for every retry and redelivery, so receivers can deduplicate.
    message_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class WebhookDeliveryRow(Base):
    """One event to one subscriber; ``pending`` until delivered or dead-lettered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "webhook_id", name="uq_webhook_deliveries_event_webhook"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False)
    #: ``pending``, ``delivered`` or ``dead`` (gave up after the configured number of attempts).
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: A sender holds a delivery until this time; a sender that died releases it by letting it pass.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class WebhookAttemptRow(Base):
    """The delivery log: every attempt, its outcome and how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
                                             nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


# --- review console ----------------------------------------------------------------------------------


class ConsoleUserRow(Base):
    """A person using the review console; passwords are argon2 hashes, repeated failures lock the account."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    #: ``reviewer``, ``senior`` or ``admin``.
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: How media is shielded before a reveal: ``blur`` (blur + greyscale, default), ``heavy`` or ``grey``.
    shield: Mapped[str] = mapped_column(String(16), default="blur", server_default="blur", nullable=False)
    #: Whether an admin let this user choose the light ``grey`` (greyscale only) shield.
    light_shield_allowed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConsoleSessionRow(Base):
    """A signed-in browser. Only a SHA-256 of the cookie's random token is kept, so a leaked table logs no one in."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CaseRow(Base):
    """An item waiting for (or given) a human decision; one per item, its priority raised by later reasons."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_status_priority", "status", "priority", "created_at"),
                      Index("ix_cases_item_kind", "item_id", "kind"),
                      Index("ix_cases_assignee_status", "status", "assigned_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    #: The action that opened it: ``queue`` or ``escalate``.
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    #: 0 low, 1 normal, 2 high, 3 urgent.
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    #: ``open``, ``assigned`` or ``decided``.
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"),
                                                    nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    sla_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: ``review`` (opened by a rule), ``report`` (users reported it) or ``appeal`` (a user contests a decision).
    kind: Mapped[str] = mapped_column(String(16), default="review", server_default="review", nullable=False)
    #: ``standard`` or ``senior`` (escalations and appeals: senior reviewers only).
    queue: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard", nullable=False)
    report_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    appeal_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: When the assignee took it: a taken case not decided within the take window returns to the queue.
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


#: The queue's order over undecided cases only, so a page of the queue is an index walk (see review.search).
Index("ix_cases_undecided_order", CaseRow.priority.desc(), CaseRow.created_at, CaseRow.id,
      postgresql_where=CaseRow.status != "decided", sqlite_where=CaseRow.status != "decided")
#: An item has at most one undecided review-or-report case, so concurrent reports cannot open two.
_OPEN_CASE = sa_text("status <> 'decided' AND kind <> 'appeal'")
Index("uq_cases_open_item", CaseRow.item_id, unique=True, postgresql_where=_OPEN_CASE, sqlite_where=_OPEN_CASE)
#: The SLA and age orders over undecided cases, so "overdue first" and "oldest first" are index walks too.
Index("ix_cases_undecided_sla", CaseRow.sla_due_at, CaseRow.id,
      postgresql_where=CaseRow.status != "decided", sqlite_where=CaseRow.status != "decided")
Index("ix_cases_undecided_age", CaseRow.created_at, CaseRow.id,
      postgresql_where=CaseRow.status != "decided", sqlite_where=CaseRow.status != "decided")


class CaseTagRow(Base):
    """A bank, label or bank-and-label one of a case's item matches carries, so the queue filters by index.

    ``priority``, ``created_at`` and ``undecided`` copy the case's queue order, so a filtered queue page
    walks one index in order (see :mod:`seawall.store.case_tags`).
    """

    __tablename__ = "case_tags"
    __table_args__ = (Index("ix_case_tags_key", "kind", "value", "case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    #: ``bank``, ``label`` or ``pair`` (bank and label joined by a unit separator).
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(String(310), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    undecided: Mapped[bool] = mapped_column(Boolean, nullable=False)


#: A filtered queue page in queue order: one index walk over the undecided cases with that tag.
Index("ix_case_tags_undecided_order", CaseTagRow.kind, CaseTagRow.value, CaseTagRow.priority.desc(),
      CaseTagRow.created_at, CaseTagRow.case_id,
      postgresql_where=sa_text("undecided"), sqlite_where=sa_text("undecided = 1"))


class CaseRevealRow(Base):
    """One reviewer's short-lived permission to see one case's original media.

    The token is random (256 bits) and only works with the session of the reviewer it was issued to,
    until it expires: the original is never at an address someone else could guess or reuse.
    """

    __tablename__ = "case_reveals"
    __table_args__ = (UniqueConstraint("token", name="uq_case_reveals_token"),
                      Index("ix_case_reveals_case_user", "case_id", "user_id", "expires_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CaseNoteRow(Base):
    """A reviewer's note on a case, for the next person who opens it (a decision's note is separate)."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case_id", "case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    username: Mapped[str] = mapped_column(String(100), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class SavedViewRow(Base):
    """A reviewer's named queue filter and sort; names are unique per reviewer (the database decides)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: The queue's query string (filters and sort), canonical: keys sorted, empty filters left out.
    query: Mapped[str] = mapped_column(String(2000), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class CaseMediaRow(Base):
    """The uploaded bytes of a case's item, kept so reviewers can see it and decisions can hash it into banks."""

    __tablename__ = "case_media"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class CaseDecisionRow(Base):
    """What a reviewer decided on a case, and which bank (if any) learned from it; one per case (an appeal
    is a case of its own, with its own decision)."""

    __tablename__ = "case_decisions"
    __table_args__ = (Index("uq_case_decisions_case_id", "case_id", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    username: Mapped[str] = mapped_column(String(100), nullable=False)
    #: ``violating`` or ``not_violating``.
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    bank_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    entries_added: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: The actions the reviewer chose (``[{"type": "remove"}, …]``) and the ``decisions`` row they ran under.
    actions: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonType, nullable=True)
    decision_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Bank entries this decision created (not ones that existed already): an upheld appeal removes them.
    entry_ids: Mapped[list[int] | None] = mapped_column(JsonType, nullable=True)


class AuditRow(Base):
    """Append-only: every login, media reveal, decision and bank change made through the console."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_action", "actor", "action", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(String(100), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)


# --- re-appearance of suspended accounts -----------------------------------------------------------------


class AccountProfileRow(Base):
    """What identifies an account beyond its id, kept so a suspended account is recognised when it returns.

    The name keys, avatar hash and accumulated item features are stored rather than recomputed so the
    in-memory candidate index of suspended accounts can be rebuilt from this table alone.
    """

    __tablename__ = "account_profiles"
    __table_args__ = (Index("ix_account_profiles_updated_at", "updated_at"),)

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(Text, default="", nullable=False)
    display_name: Mapped[str] = mapped_column(Text, default="", nullable=False)
    #: Folded name variants (see :func:`seawall.accounts.names.name_keys`).
    name_keys: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: PDQ of the avatar as uploaded, then its seven rotations/flips; empty without a usable avatar.
    avatar_pdq: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    avatar_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    domains: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    text_minhashes: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: Block-bank entry ids the account's items matched.
    entry_ids: Mapped[list[int]] = mapped_column(JsonType, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class ReappearanceAlertRow(Base):
    """A review signal: this account looks like suspended account(s), with the evidence for each."""

    __tablename__ = "reappearance_alerts"
    __table_args__ = (Index("ix_reappearance_alerts_account_id", "account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    top_score: Mapped[float] = mapped_column(Float, nullable=False)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    #: ``open`` until a reviewer decides it.
    status: Mapped[str] = mapped_column(String(16), default="open", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


# --- legal: TCO removal orders, preservation, notices, DSA statements of reasons ------------------------


class RemovalOrderRow(Base):
    """A TCO removal order as received (Annex I fields), its one-hour clock and what was done about it."""

    __tablename__ = "removal_orders"
    __table_args__ = (
        # one authority's order reference is received once; a second delivery is the same order
        UniqueConstraint("issuing_state", "authority_name", "reference", name="uq_removal_orders_reference"),
        Index("ix_removal_orders_status", "status"),
        Index("ix_removal_orders_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issuing_state: Mapped[str | None] = mapped_column(String(2), nullable=True)
    authority_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: The Annex I fields exactly as received.
    fields: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    #: ``running``, ``paused`` (Annex III sent), ``removed``, ``reversed`` (Art. 4 scrutiny).
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    #: Missing mandatory fields and manifest errors found on receipt.
    flags: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: Taken from the server clock when the order arrived, never from the order's text.
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    received_via: Mapped[str] = mapped_column(String(16), nullable=False)
    received_source: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    clock_epoch: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    clock_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    paused_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Items located and removed: ``[{"item_id", "decision_id"}]``.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    do_not_inform: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    notify_embargo_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reversal: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    #: The newest recorded event: later records never go before it (the clock never runs backwards).
    last_event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), default="", nullable=False)


class RemovalOrderEventRow(Base):
    """The order's clock log: receipt, pauses, restarts, alerts, removal, forms sent, reversal."""

    __tablename__ = "removal_order_events"
    __table_args__ = (
        # an alert (or a pause) happens at most once per clock epoch, whichever node notices it first
        UniqueConstraint("order_id", "kind", "epoch", name="uq_removal_order_events_once"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("removal_orders.id", ondelete="CASCADE"), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    epoch: Mapped[int] = mapped_column(Integer, nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)


class PreservedContentRow(Base):
    """TCO Art. 6 vault: a removed item's content and related data, kept until ``preserve_until``."""

    __tablename__ = "preserved_content"
    __table_args__ = (Index("ix_preserved_content_until", "preserve_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: ``removal_order`` or ``specific_measure``.
    basis: Mapped[str] = mapped_column(String(32), nullable=False)
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: The item record, its matches, decisions and the platform's context, as they were at removal.
    related: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    preserved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    preserve_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: Extensions asked for by an authority or court: ``[{"until", "requested_by", "reason", "at"}]``.
    extensions: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UploaderNoticeRow(Base):
    """What the uploader is told about a removal (TCO Art. 11 / DSA Art. 17), held back during an embargo."""

    __tablename__ = "uploader_notices"
    __table_args__ = (Index("ix_uploader_notices_item", "item_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(32), nullable=False)
    account_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    statement_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: Art. 11(3): nothing is disclosed before this moment.
    withheld_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StatementRow(Base):
    """A DSA Art. 17 statement of reasons: the Transparency Database record and the user-facing text."""

    __tablename__ = "statements_of_reasons"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The platform-unique id sent to the Transparency Database; never reused.
    puid: Mapped[str] = mapped_column(String(500), unique=True, nullable=False)
    decision_id: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)
    item_id: Mapped[str] = mapped_column(String(32), nullable=False)
    record: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    user_text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: ``pending``, ``submitted``, ``rejected`` (the database refused it; see ``error``) or ``not_required``
    #: (the decision restricted nothing that needs a statement, e.g. a strike alone).
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    tdb_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)


# --- hash-sharing exchanges ------------------------------------------------------------------------------


class SourceRow(Base):
    """An exchange Seawall pulls bank entries from, with its checkpoint and how its last syncs went."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    #: The exchange's registered name (``seawall``, ``file``, ``threatexchange``, ``tat``…).
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    #: What the exchange needs to reach its service (URL, feed, token, public key…).
    config: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, nullable=False)
    #: Target bank names; the first one receives entries.
    banks: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: Remote label → local label (``""`` drops it); labels not listed pass through when valid.
    label_map: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict, nullable=False)
    #: Action of the target bank while the source is not trusted, and once it is.
    action: Mapped[str] = mapped_column(String(10), default="review", nullable=False)
    trusted_action: Mapped[str] = mapped_column(String(10), default="block", nullable=False)
    trusted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    interval_seconds: Mapped[float] = mapped_column(Float, default=300.0, nullable=False)
    #: Opaque to Seawall: whatever the exchange returned with the last page applied.
    checkpoint: Mapped[str | None] = mapped_column(Text, nullable=True)
    entries_added: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    entries_seen: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    tombstones_applied: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    pages_refused: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Malformed entries of the last pages, with their positions (bounded).
    last_rejects: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    newest_entry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Consecutive failed syncs; drives the back-off.
    failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: Local banks whose new entries are sent to this source (exchanges that accept entries); empty: none.
    push_banks: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: Bank entry id up to which entries were sent (ids only grow).
    push_cursor: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    entries_pushed: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    last_push_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_push_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_push_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Consecutive failed pushes; drives the push back-off.
    push_failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_push_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BankEntrySourceRow(Base):
    """Provenance: one source that reported a bank entry, when first and last, under which remote id."""

    __tablename__ = "bank_entry_sources"
    __table_args__ = (Index("ix_bank_entry_sources_source_remote", "source_id", "remote_id"),)

    entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entries.id", ondelete="CASCADE"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    remote_id: Mapped[str | None] = mapped_column(key_text(200), nullable=True)
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class FeedRow(Base):
    """Banks this instance publishes to partners as a signed, append-only feed."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    banks: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: Only entries carrying one of these labels are published (empty: all).
    labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    #: The review-only bank partners' pushed entries land in; None: the feed takes no contributions.
    contributions_bank: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class FeedPartnerRow(Base):
    """A partner allowed to read a feed; only a SHA-256 of its random token is kept."""

    __tablename__ = "feed_partners"
    __table_args__ = (UniqueConstraint("feed_id", "name", name="uq_feed_partners_feed_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    last_pull_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The partner's Ed25519 public key (base64 of 32 bytes): its feedback must be signed with it.
    public_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Send time of the last feedback accepted from it; an older or equal one is a replay.
    feedback_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FeedFeedbackRow(Base):
    """A partner's latest opinion on one published entry (``true_positive``, ``false_positive``, ``seen``)."""

    __tablename__ = "feed_feedback"
    __table_args__ = (UniqueConstraint("partner_id", "entry_id", name="uq_feed_feedback_partner_entry"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("feed_partners.id", ondelete="CASCADE"), nullable=False)
    entry_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    signal_type: Mapped[str] = mapped_column(String(32), nullable=False)
    value_digest: Mapped[str] = mapped_column(String(32), nullable=False)
    opinion: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class BankEntryTombstoneRow(Base):
    """A deleted bank entry, written by a database trigger (migration 0012) on every delete, for feeds."""

    __tablename__ = "bank_entry_tombstones"
    __table_args__ = (Index("ix_bank_entry_tombstones_bank_id", "bank_id", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    bank_id: Mapped[int] = mapped_column(Integer, nullable=False)
    signal_type: Mapped[str] = mapped_column(String(32), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    labels: Mapped[list[str] | None] = mapped_column(JsonType, nullable=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class SecondReviewRow(Base):
    """A reviewer decision sampled for a blind second review, and (once done) the second reviewer's verdict.

    The first decision's outcome and labels are copied here so agreement is one query; the second
    reviewer never sees them (see :mod:`seawall.review.quality`). One second review per decision.
    """

    __tablename__ = "second_reviews"
    __table_args__ = (UniqueConstraint("case_decision_id", name="uq_second_reviews_decision"),
                      Index("ix_second_reviews_status", "status", "id"),
                      Index("ix_second_reviews_first_user", "first_username", "decided_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    case_decision_id: Mapped[int] = mapped_column(ForeignKey("case_decisions.id", ondelete="CASCADE"),
                                                  nullable=False)
    first_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_username: Mapped[str] = mapped_column(String(100), nullable=False)
    first_outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    first_labels: Mapped[list[str]] = mapped_column(JsonType, default=list, nullable=False)
    #: ``waiting`` or ``done``.
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    reviewer_username: Mapped[str | None] = mapped_column(String(100), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    labels: Mapped[list[str] | None] = mapped_column(JsonType, nullable=True)
    agreed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SecondReviewLabelRow(Base):
    """One label either reviewer gave in a done second review, and whether each gave it (per-label agreement)."""

    __tablename__ = "second_review_labels"
    __table_args__ = (Index("ix_second_review_labels_label", "label"),)

    review_id: Mapped[int] = mapped_column(ForeignKey("second_reviews.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    first: Mapped[bool] = mapped_column(Boolean, nullable=False)
    second: Mapped[bool] = mapped_column(Boolean, nullable=False)


class CaseHashRow(Base):
    """A PDQ hash of a case's media, kept when the case is opened, so near-same cases find each other
    without a bank entry (see :mod:`seawall.review.near_media`)."""

    __tablename__ = "case_hashes"
    __table_args__ = (Index("ix_case_hashes_case_id", "case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    value: Mapped[str] = mapped_column(String(64), nullable=False)
