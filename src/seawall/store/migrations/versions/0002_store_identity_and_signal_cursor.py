"""Store identity (ties index snapshots to one database) and a (signal_type, id) index for per-type cursors.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 05:45:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "store_id": uuid.uuid4().hex, "created_at": datetime.now(UTC)}])
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.create_index("ix_bank_entries_signal_id", ["signal_type", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_entries_signal_id")
    op.drop_table("store_identity")
