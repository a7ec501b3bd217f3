"""Review workflow: reviewer decisions that act, user reports, appeals, reach, reviewer preferences.

Cases are no longer unique per item: an item decided once may come back as an appeal (a second case
for the same item). One *open* case per item and kind is kept by the service under a row lock.
Bank entries a reviewer decision added keep a small thumbnail (``bank_entry_media``) so the next
reviewer can compare side by side, and the decision keeps their ids so an upheld appeal can remove them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("items") as b:
        b.add_column(sa.Column("reach", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("cases") as b:
        b.drop_constraint("uq_cases_item_id", type_="unique")
        b.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="review"))
        b.add_column(sa.Column("queue", sa.String(length=16), nullable=False, server_default="standard"))
        b.add_column(sa.Column("report_count", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("appeal_id", sa.BigInteger(), nullable=True))
        b.create_index("ix_cases_item_kind", ["item_id", "kind"])
    with op.batch_alter_table("case_decisions") as b:
        b.add_column(sa.Column("actions", JsonType, nullable=True))
        b.add_column(sa.Column("decision_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("entry_ids", JsonType, nullable=True))
    with op.batch_alter_table("appeals") as b:
        b.add_column(sa.Column("case_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("case_decision_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("decision_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("decided_by", sa.String(length=100), nullable=True))
        b.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("decided_at", Stamp, nullable=True))
        b.add_column(sa.Column("note", sa.Text(), nullable=True))
        b.add_column(sa.Column("reversal", JsonType, nullable=True))
    with op.batch_alter_table("console_users") as b:
        b.add_column(sa.Column("shield", sa.String(length=16), nullable=False, server_default="blur"))
        b.add_column(sa.Column("light_shield_allowed", sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("disabled_at", Stamp, nullable=True))
    op.create_table(
        "reports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("reporter_account", sa.String(length=300), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reports_case_id", "reports", ["case_id"])
    op.create_table(
        "bank_entry_media",
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id"),
    )


def downgrade() -> None:
    op.drop_table("bank_entry_media")
    op.drop_index("ix_reports_case_id", table_name="reports")
    op.drop_table("reports")
    with op.batch_alter_table("console_users") as b:
        b.drop_column("disabled_at")
        b.drop_column("light_shield_allowed")
        b.drop_column("shield")
    with op.batch_alter_table("appeals") as b:
        for col in ("reversal", "note", "decided_at", "outcome", "decided_by", "decision_id", "case_decision_id",
                    "case_id"):
            b.drop_column(col)
    with op.batch_alter_table("case_decisions") as b:
        for col in ("entry_ids", "decision_id", "actions"):
            b.drop_column(col)
    with op.batch_alter_table("cases") as b:
        b.drop_index("ix_cases_item_kind")
        for col in ("appeal_id", "report_count", "queue", "kind"):
            b.drop_column(col)
        b.create_unique_constraint("uq_cases_item_id", ["item_id"])
    with op.batch_alter_table("items") as b:
        b.drop_column("reach")
