"""Review console at scale and quality: indexed case tags (bank, label) filled for existing cases, the
undecided-case indexes the SLA and age orders walk, blind second reviews with per-label agreement, and
each undecided case's PDQ hashes (filled from its item's signals) so near-same media group without a bank.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNDECIDED = sa.text("status <> 'decided'")
JsonType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "case_tags",
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=310), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undecided", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "kind", "value"),
    )
    for statement in _backfill(op.get_bind().dialect.name):
        op.execute(sa.text(statement))
    op.create_index("ix_case_tags_key", "case_tags", ["kind", "value", "case_id"])
    op.create_index("ix_case_tags_undecided_order", "case_tags",
                    ["kind", "value", sa.text("priority DESC"), "created_at", "case_id"],
                    postgresql_where=sa.text("undecided"), sqlite_where=sa.text("undecided = 1"))
    op.create_index("ix_cases_undecided_sla", "cases", ["sla_due_at", "id"],
                    postgresql_where=UNDECIDED, sqlite_where=UNDECIDED)
    op.create_index("ix_cases_undecided_age", "cases", ["created_at", "id"],
                    postgresql_where=UNDECIDED, sqlite_where=UNDECIDED)
    op.create_table(
        "second_reviews",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("case_decision_id", BigId, nullable=False),
        sa.Column("first_user_id", sa.Integer(), nullable=True),
        sa.Column("first_username", sa.String(length=100), nullable=False),
        sa.Column("first_outcome", sa.String(length=20), nullable=False),
        sa.Column("first_labels", JsonType, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reviewer_username", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("labels", JsonType, nullable=True),
        sa.Column("agreed", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["case_decision_id"], ["case_decisions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_decision_id", name="uq_second_reviews_decision"),
    )
    op.create_index("ix_second_reviews_status", "second_reviews", ["status", "id"])
    op.create_index("ix_second_reviews_first_user", "second_reviews", ["first_username", "decided_at"])
    op.create_table(
        "second_review_labels",
        sa.Column("review_id", BigId, nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("first", sa.Boolean(), nullable=False),
        sa.Column("second", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["second_reviews.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("review_id", "label"),
    )
    op.create_index("ix_second_review_labels_label", "second_review_labels", ["label"])
    op.create_table(
        "case_hashes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(sa.text(_hashes_backfill(op.get_bind().dialect.name)))
    op.create_index("ix_case_hashes_case_id", "case_hashes", ["case_id"])


def _backfill(dialect: str) -> list[str]:
    """Every existing case gets the banks, labels and bank-and-label pairs of its item's stored matches."""
    if dialect == "postgresql":
        each = ("CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(m.labels::jsonb) = 'array' "
                "THEN m.labels::jsonb ELSE '[]'::jsonb END) AS l(value)")
        sep = "chr(31)"
        undecided = "c.status <> 'decided'"
    else:
        each = "JOIN json_each(CASE WHEN json_valid(m.labels) THEN m.labels ELSE '[]' END) AS l"
        sep = "char(31)"
        undecided = "CASE WHEN c.status <> 'decided' THEN 1 ELSE 0 END"
    head = "INSERT INTO case_tags (case_id, kind, value, priority, created_at, undecided) SELECT DISTINCT c.id, "
    tail = f", c.priority, c.created_at, {undecided} FROM cases c JOIN matches m ON m.item_id = c.item_id"
    label = "substr(lower(trim(l.value)), 1, 200)"
    return [f"{head}'bank', substr(m.bank_name, 1, 100){tail} WHERE 1 = 1 ON CONFLICT DO NOTHING",
            f"{head}'label', {label}{tail} {each} WHERE 1 = 1 ON CONFLICT DO NOTHING",
            f"{head}'pair', substr(m.bank_name, 1, 100) || {sep} || {label}{tail} {each} "
            "WHERE 1 = 1 ON CONFLICT DO NOTHING"]


def _hashes_backfill(dialect: str) -> str:
    """Undecided cases get the PDQ hashes their item's stored signals hold."""
    if dialect == "postgresql":
        return ("INSERT INTO case_hashes (case_id, value) SELECT DISTINCT c.id, lower(sig->>'value') FROM cases c "
                "JOIN items i ON i.id = c.item_id CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN "
                "jsonb_typeof(i.signals::jsonb) = 'array' THEN i.signals::jsonb ELSE '[]'::jsonb END) AS sig "
                "WHERE c.status <> 'decided' AND sig->>'type' = 'pdq' AND length(sig->>'value') = 64")
    return ("INSERT INTO case_hashes (case_id, value) SELECT DISTINCT c.id, lower(json_extract(sig.value, '$.value')) "
            "FROM cases c JOIN items i ON i.id = c.item_id JOIN json_each(CASE WHEN json_valid(i.signals) THEN "
            "i.signals ELSE '[]' END) AS sig WHERE c.status <> 'decided' "
            "AND json_extract(sig.value, '$.type') = 'pdq' AND length(json_extract(sig.value, '$.value')) = 64")


def downgrade() -> None:
    op.drop_index("ix_case_hashes_case_id", table_name="case_hashes")
    op.drop_table("case_hashes")
    op.drop_index("ix_second_review_labels_label", table_name="second_review_labels")
    op.drop_table("second_review_labels")
    op.drop_index("ix_second_reviews_first_user", table_name="second_reviews")
    op.drop_index("ix_second_reviews_status", table_name="second_reviews")
    op.drop_table("second_reviews")
    op.drop_index("ix_cases_undecided_age", table_name="cases")
    op.drop_index("ix_cases_undecided_sla", table_name="cases")
    op.drop_index("ix_case_tags_undecided_order", table_name="case_tags")
    op.drop_index("ix_case_tags_key", table_name="case_tags")
    op.drop_table("case_tags")
