"""One decision per case: a unique index over ``case_decisions.case_id``.

Each case is decided once: a review or report case by its reviewer, an appeal case (a case of its own,
kind ``appeal``) by the senior who upholds or rejects it. Until now only the service kept it so, under
the case's row lock; the index keeps it in the database, so no path that skips the lock can store a
second decision. It replaces the plain index on the same column. A store that already holds more than
one decision for a case is not changed silently: the upgrade stops and names the cases, deleting
nothing, so an operator decides which decision stands.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    twice = op.get_bind().execute(sa.text(
        "SELECT case_id FROM case_decisions GROUP BY case_id HAVING COUNT(*) > 1 ORDER BY case_id")).scalars().all()
    if twice:
        names = ", ".join(str(i) for i in twice[:20]) + (f" and {len(twice) - 20} more" if len(twice) > 20 else "")
        raise RuntimeError(f"case_decisions: more than one decision for a case (cases {names}); delete the extra "
                           "ones (an older Seawall could store them) and upgrade again")
    op.drop_index("ix_case_decisions_case_id", table_name="case_decisions")
    op.create_index("uq_case_decisions_case_id", "case_decisions", ["case_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_case_decisions_case_id", table_name="case_decisions")
    op.create_index("ix_case_decisions_case_id", "case_decisions", ["case_id"])
