"""Feed partners sign their feedback with Ed25519: each partner gets its public key and the send time of
the last feedback accepted from it (to refuse replays).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_partners") as batch:
        batch.add_column(sa.Column("public_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("feedback_sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_partners") as batch:
        batch.drop_column("feedback_sent_at")
        batch.drop_column("public_key")
