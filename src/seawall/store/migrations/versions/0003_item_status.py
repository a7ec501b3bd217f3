"""Items may be processed in the background: a status, an error, and no verdict until done.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="complete"))
        batch_op.add_column(sa.Column("error", JsonType, nullable=True))
        batch_op.alter_column("verdict", existing_type=sa.String(length=16), nullable=True)
        batch_op.create_index("ix_items_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_status")
        batch_op.alter_column("verdict", existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column("error")
        batch_op.drop_column("status")
