"""Review console care: when a case was taken (so a taken case expires back to the queue), audited
reveal tokens for original media, and reviewers' notes on a case.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("cases", sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "case_reveals",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token", name="uq_case_reveals_token"),
    )
    op.create_index("ix_case_reveals_case_user", "case_reveals", ["case_id", "user_id", "expires_at"])
    op.create_table(
        "case_notes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])
    op.create_index("ix_cases_assignee_status", "cases", ["status", "assigned_at"])
    # the queue's order over undecided cases only: a page is an index walk, not a sort of the backlog
    op.create_index("ix_cases_undecided_order", "cases", [sa.text("priority DESC"), "created_at", "id"],
                    postgresql_where=sa.text("status <> 'decided'"), sqlite_where=sa.text("status <> 'decided'"))


def downgrade() -> None:
    op.drop_index("ix_cases_undecided_order", table_name="cases")
    op.drop_index("ix_cases_assignee_status", table_name="cases")
    op.drop_index("ix_case_notes_case_id", table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_case_reveals_case_user", table_name="case_reveals")
    op.drop_table("case_reveals")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("assigned_at")
