"""Scale-out: uploads waiting for a worker live in the store, and entries record their transaction.

``item_uploads`` holds the bytes of a deferred upload until its background stage has finished, so a
worker on another machine can read them (the embedded mode keeps using a local spool directory).

On PostgreSQL ``bank_entries.tx_id`` records the inserting transaction: ids from a sequence can commit
out of order, and the index refresh uses the transaction horizon to find entries that committed after
the id cursor had passed them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_uploads",
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # nullable, default set afterwards: existing rows need no rewrite (the id cursor already has them)
        op.execute("ALTER TABLE bank_entries ADD COLUMN tx_id xid8")
        op.execute("ALTER TABLE bank_entries ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id()")
        op.execute("CREATE INDEX ix_bank_entries_tx_id ON bank_entries (tx_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_bank_entries_tx_id")
        op.execute("ALTER TABLE bank_entries DROP COLUMN IF EXISTS tx_id")
    op.drop_table("item_uploads")
