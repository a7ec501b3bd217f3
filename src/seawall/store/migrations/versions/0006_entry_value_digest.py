"""Bank entries are unique by a digest of their value, not the value itself.

A vPDQ value holds every frame of a video and can be many kilobytes; PostgreSQL refuses B-tree keys
over about 2.7 kB, so the unique key moves to a 128-bit SHA-256 prefix of the value, and the
index on the raw value (nothing searches the store by value: matching uses in-memory indexes) goes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 06:20:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def upgrade() -> None:
    op.add_column("bank_entries", sa.Column("value_digest", sa.String(length=32), nullable=True))
    bind = op.get_bind()
    entries = sa.table("bank_entries", sa.column("id", sa.BigInteger), sa.column("value", sa.Text),
                       sa.column("value_digest", sa.String))
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE bank_entries SET value_digest = left(encode(sha256(convert_to(value, 'UTF8')), 'hex'), 32)")
    else:
        rows = bind.execute(sa.select(entries.c.id, entries.c.value)).all()
        for start in range(0, len(rows), 10_000):
            chunk = rows[start:start + 10_000]
            bind.execute(
                entries.update().where(entries.c.id == sa.bindparam("eid")).values(value_digest=sa.bindparam("d")),
                [{"eid": r[0], "d": _digest(r[1])} for r in chunk],
            )
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.alter_column("value_digest", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint("uq_bank_entries_bank_signal_value", type_="unique")
        batch_op.drop_index("ix_bank_entries_signal_value")
        batch_op.create_unique_constraint(
            "uq_bank_entries_bank_signal_digest", ["bank_id", "signal_type", "value_digest"]
        )


def downgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_bank_entries_bank_signal_digest", type_="unique")
        batch_op.create_index("ix_bank_entries_signal_value", ["signal_type", "value"], unique=False)
        batch_op.create_unique_constraint("uq_bank_entries_bank_signal_value", ["bank_id", "signal_type", "value"])
        batch_op.drop_column("value_digest")
