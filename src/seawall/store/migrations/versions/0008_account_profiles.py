"""Account profiles and re-appearance alerts.

A profile keeps what identifies an account beyond its id (folded names, avatar PDQ, domains, text
signatures, matched entries) so a suspended account that registers again under a new id is recognised;
an alert is the review signal raised when a new account looks like a suspended one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 06:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "account_profiles",
        sa.Column("account_id", sa.String(length=300), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("name_keys", JsonType, nullable=False),
        sa.Column("avatar_pdq", JsonType, nullable=False),
        sa.Column("avatar_quality", sa.Integer(), nullable=True),
        sa.Column("domains", JsonType, nullable=False),
        sa.Column("text_minhashes", JsonType, nullable=False),
        sa.Column("entry_ids", JsonType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_index("ix_account_profiles_updated_at", "account_profiles", ["updated_at"])
    op.create_table(
        "reappearance_alerts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=300), nullable=False),
        sa.Column("top_score", sa.Float(), nullable=False),
        sa.Column("candidates", JsonType, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reappearance_alerts_account_id", "reappearance_alerts", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_reappearance_alerts_account_id", table_name="reappearance_alerts")
    op.drop_table("reappearance_alerts")
    op.drop_index("ix_account_profiles_updated_at", table_name="account_profiles")
    op.drop_table("account_profiles")
