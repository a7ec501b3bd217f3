"""Partner contributions to a feed: the review-only bank a partner's pushed entries land in.

Empty (the default, and every existing feed) means the feed takes no contributions.

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-03 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("contributions_bank", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("contributions_bank")
