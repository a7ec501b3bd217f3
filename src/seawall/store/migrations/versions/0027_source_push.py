"""Pushing to sources: which local banks a source is sent, how far sending got, and how it went.

Empty ``push_banks`` (the default, and every existing source) means nothing is pushed.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("push_banks", _JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("push_cursor", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("entries_pushed", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_push_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_push_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_push_error_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("push_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_push_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        for column in ("next_push_at", "push_failures", "last_push_error_at", "last_push_error", "last_push_at",
                       "entries_pushed", "push_cursor", "push_banks"):
            batch.drop_column(column)
