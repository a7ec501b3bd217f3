"""``once`` uploads are unique in the store: a key per (submitter, content id) with a unique index.

Re-sends of one upload with ``once`` used to be checked for and then inserted, so concurrent re-sends
each stored an item, a decision and a strike. The key makes the second insert fail in the database,
and the submission returns the first item instead.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("once_key", sa.String(length=64), nullable=True))
        batch_op.create_index("uq_items_once_key", ["once_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("uq_items_once_key")
        batch_op.drop_column("once_key")
