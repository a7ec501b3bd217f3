"""Hash-sharing exchanges: sources and their provenance, published feeds, tombstones and feedback.

``bank_entry_tombstones`` is filled by a trigger on ``bank_entries`` so that every way an entry can go
(API, console, appeal, bank deletion by cascade) leaves the record a feed needs to tell its partners.
On PostgreSQL tombstones record their transaction id like ``bank_entries.tx_id`` does, so a feed can
follow late commits below its cursor.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config", JsonType, nullable=False),
        sa.Column("banks", JsonType, nullable=False),
        sa.Column("label_map", JsonType, nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("trusted_action", sa.String(length=10), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("entries_added", sa.BigInteger(), nullable=False),
        sa.Column("entries_seen", sa.BigInteger(), nullable=False),
        sa.Column("tombstones_applied", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("pages_refused", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_rejects", JsonType, nullable=False),
        _ts("last_attempt_at", True),
        _ts("last_success_at", True),
        _ts("last_error_at", True),
        _ts("newest_entry_at", True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _ts("next_attempt_at", True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_sources_name"),
    )
    op.create_table(
        "bank_entry_sources",
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(length=200), nullable=True),
        sa.Column("labels", JsonType, nullable=False),
        _ts("first_seen"),
        _ts("last_seen"),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entries.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", "source_id"),
    )
    op.create_index("ix_bank_entry_sources_source_remote", "bank_entry_sources", ["source_id", "remote_id"])
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("banks", JsonType, nullable=False),
        sa.Column("labels", JsonType, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_feeds_name"),
    )
    op.create_table(
        "feed_partners",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _ts("created_at"),
        _ts("last_pull_at", True),
        _ts("revoked_at", True),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "name", name="uq_feed_partners_feed_name"),
        sa.UniqueConstraint("token_hash", name="uq_feed_partners_token_hash"),
    )
    op.create_table(
        "feed_feedback",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value_digest", sa.String(length=32), nullable=False),
        sa.Column("opinion", sa.String(length=16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["partner_id"], ["feed_partners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "entry_id", name="uq_feed_feedback_partner_entry"),
    )
    op.create_table(
        "bank_entry_tombstones",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("labels", JsonType, nullable=True),
        _ts("deleted_at"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bank_entry_tombstones_bank_id", "bank_entry_tombstones", ["bank_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE bank_entry_tombstones ADD COLUMN tx_id xid8 DEFAULT pg_current_xact_id()")
        op.execute("CREATE INDEX ix_bank_entry_tombstones_tx_id ON bank_entry_tombstones (tx_id)")
        op.execute("""
            CREATE FUNCTION seawall_entry_tombstone() RETURNS trigger AS $$
            BEGIN
              INSERT INTO bank_entry_tombstones (entry_id, bank_id, signal_type, value, labels, deleted_at)
              VALUES (OLD.id, OLD.bank_id, OLD.signal_type, OLD.value, OLD.labels, now());
              RETURN OLD;
            END $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER trg_bank_entries_tombstone AFTER DELETE ON bank_entries "
                    "FOR EACH ROW EXECUTE FUNCTION seawall_entry_tombstone()")
    else:
        op.execute("""
            CREATE TRIGGER trg_bank_entries_tombstone AFTER DELETE ON bank_entries
            BEGIN
              INSERT INTO bank_entry_tombstones (entry_id, bank_id, signal_type, value, labels, deleted_at)
              VALUES (OLD.id, OLD.bank_id, OLD.signal_type, OLD.value, OLD.labels,
                      datetime('now'));
            END""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS trg_bank_entries_tombstone" + (
        " ON bank_entries" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS seawall_entry_tombstone()")
    op.drop_table("bank_entry_tombstones")
    op.drop_table("feed_feedback")
    op.drop_table("feed_partners")
    op.drop_table("feeds")
    op.drop_index("ix_bank_entry_sources_source_remote", table_name="bank_entry_sources")
    op.drop_table("bank_entry_sources")
    op.drop_table("sources")
