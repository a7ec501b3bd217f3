"""Uniqueness for creations that concurrent identical requests could duplicate: one undecided
review-or-report case per item, one waiting appeal per item (and per account against a suspension as
such), and one report per named reporter, case and category.

A store that already holds duplicates from before (made by the race these constraints close) is not
changed silently: the upgrade stops and names them, so an operator decides which to keep.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-02 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_CASE = "status <> 'decided' AND kind <> 'appeal'"
RECEIVED_ITEM = "status = 'received' AND item_id IS NOT NULL"
RECEIVED_ACCOUNT = "status = 'received' AND item_id IS NULL"


def _refuse_duplicates(table: str, column: str, where: str, what: str) -> None:
    dupes = op.get_bind().execute(sa.text(
        f"SELECT {column}, COUNT(*) FROM {table} WHERE {where} GROUP BY {column} HAVING COUNT(*) > 1 LIMIT 20"
    )).all()
    if dupes:
        names = ", ".join(str(r[0]) for r in dupes)
        raise RuntimeError(f"{table}: more than one {what} for {names}; decide or remove the extra ones "
                           "(an older Seawall let concurrent requests make them) and upgrade again")


def upgrade() -> None:
    _refuse_duplicates("cases", "item_id", OPEN_CASE, "undecided review-or-report case")
    _refuse_duplicates("appeals", "item_id", RECEIVED_ITEM, "appeal waiting for a decision")
    _refuse_duplicates("appeals", "account_id", RECEIVED_ACCOUNT, "appeal against a suspension")
    op.create_index("uq_cases_open_item", "cases", ["item_id"], unique=True,
                    postgresql_where=sa.text(OPEN_CASE), sqlite_where=sa.text(OPEN_CASE))
    op.create_index("uq_appeals_received_item", "appeals", ["item_id"], unique=True,
                    postgresql_where=sa.text(RECEIVED_ITEM), sqlite_where=sa.text(RECEIVED_ITEM))
    op.create_index("uq_appeals_received_account", "appeals", ["account_id"], unique=True,
                    postgresql_where=sa.text(RECEIVED_ACCOUNT), sqlite_where=sa.text(RECEIVED_ACCOUNT))
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_reports_dedupe_key", ["dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("uq_reports_dedupe_key", type_="unique")
        batch.drop_column("dedupe_key")
    op.drop_index("uq_appeals_received_account", table_name="appeals")
    op.drop_index("uq_appeals_received_item", table_name="appeals")
    op.drop_index("uq_cases_open_item", table_name="cases")
