"""An account's items newest first from one index: account pages and the case page's account panel.

The account timeline and the case page read ``items WHERE account_id = ? ORDER BY received_at DESC
LIMIT n``. With an index on ``account_id`` alone the database fetches every item of the account and
sorts them before taking ``n``: cheap for a small account, a full read of its history for a prolific
one (the accounts that get reviewed most). ``(account_id, received_at)`` answers both the equality
look-ups the old index served and the ordered page, so it replaces it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 10:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_account_received", "items", ["account_id", "received_at"])
    op.drop_index("ix_items_account_id", table_name="items")


def downgrade() -> None:
    op.create_index("ix_items_account_id", "items", ["account_id"])
    op.drop_index("ix_items_account_received", table_name="items")
