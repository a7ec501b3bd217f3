"""Two-stage uploads: which slow tasks (OCR…) an item still waits for after its in-request verdict.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("stage2_pending", sa.String(length=200), nullable=True))
    op.create_index("ix_items_stage2_pending", "items", ["stage2_pending"])


def downgrade() -> None:
    op.drop_index("ix_items_stage2_pending", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("stage2_pending")
