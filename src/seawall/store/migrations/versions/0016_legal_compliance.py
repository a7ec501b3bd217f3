"""Legal compliance: TCO removal orders and their clock log, the preservation vault, uploader notices,
DSA statements of reasons.

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-02 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "removal_orders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("issuing_state", sa.String(2), nullable=True),
        sa.Column("authority_name", sa.String(300), nullable=True),
        sa.Column("fields", JsonType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("flags", JsonType, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("received_via", sa.String(16), nullable=False),
        sa.Column("received_source", sa.String(300), nullable=False),
        sa.Column("clock_epoch", sa.Integer(), nullable=False),
        sa.Column("clock_started_at", TS, nullable=True),
        sa.Column("paused_reason", sa.String(32), nullable=True),
        sa.Column("paused_at", TS, nullable=True),
        sa.Column("removed_at", TS, nullable=True),
        sa.Column("items", JsonType, nullable=False),
        sa.Column("do_not_inform", sa.Boolean(), nullable=False),
        sa.Column("notify_embargo_until", TS, nullable=True),
        sa.Column("reversed_at", TS, nullable=True),
        sa.Column("reversal", JsonType, nullable=True),
        sa.Column("last_event_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.UniqueConstraint("issuing_state", "authority_name", "reference", name="uq_removal_orders_reference"),
    )
    op.create_index("ix_removal_orders_status", "removal_orders", ["status"])
    op.create_index("ix_removal_orders_received_at", "removal_orders", ["received_at"])
    op.create_table(
        "removal_order_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", BigId, sa.ForeignKey("removal_orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("detail", JsonType, nullable=False),
        sa.UniqueConstraint("order_id", "kind", "epoch", name="uq_removal_order_events_once"),
    )
    op.create_table(
        "preserved_content",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(32), nullable=False, unique=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("related", JsonType, nullable=False),
        sa.Column("preserved_at", TS, nullable=False),
        sa.Column("preserve_until", TS, nullable=False),
        sa.Column("extensions", JsonType, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
    )
    op.create_index("ix_preserved_content_until", "preserved_content", ["preserve_until"])
    op.create_table(
        "uploader_notices",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(300), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("statement_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("withheld_until", TS, nullable=True),
        sa.Column("released_at", TS, nullable=True),
    )
    op.create_index("ix_uploader_notices_item", "uploader_notices", ["item_id"])
    op.create_table(
        "statements_of_reasons",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("puid", sa.String(500), nullable=False, unique=True),
        sa.Column("decision_id", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("record", JsonType, nullable=False),
        sa.Column("user_text", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("tdb_uuid", sa.String(64), nullable=True),
        sa.Column("error", JsonType, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("statements_of_reasons")
    op.drop_index("ix_uploader_notices_item", table_name="uploader_notices")
    op.drop_table("uploader_notices")
    op.drop_index("ix_preserved_content_until", table_name="preserved_content")
    op.drop_table("preserved_content")
    op.drop_table("removal_order_events")
    op.drop_index("ix_removal_orders_received_at", table_name="removal_orders")
    op.drop_index("ix_removal_orders_status", table_name="removal_orders")
    op.drop_table("removal_orders")
