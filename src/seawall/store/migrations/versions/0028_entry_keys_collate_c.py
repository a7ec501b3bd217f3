"""PostgreSQL: bank entries' key columns compared byte by byte (``COLLATE "C"``), not by the locale.

A bank's unique key is ``(bank_id, signal_type, value_digest)`` and a source's provenance is indexed by
``(source_id, remote_id)``. Under a database's locale collation (``en_US.UTF-8``, ``C.UTF-8``: anything
but ``C``) every comparison of those text columns in a B-tree descent, an insert or a sort goes through
``strcoll``, and PostgreSQL turns off abbreviated sort keys for it. A sync of millions of entries does
tens of comparisons per entry: most of the database's work on an initial sync was spent comparing hex
digests by locale rules. The values are signal type names, hex digests and remote ids: what Seawall asks
of them is equality and a stable order, both of which the byte order gives (and for valid UTF-8 it is
code point order). Only equality is ever queried on them, so results are unchanged.

Changing only a column's collation rewrites no table, only the indexes on it. SQLite compares bytes
already (``BINARY``): nothing to do there.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, ((column, varchar length), ...)): the text columns of the entry tables' unique keys and indexes.
COLUMNS: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("bank_entries", (("signal_type", 32), ("value_digest", 32))),
    ("bank_entry_sources", (("remote_id", 200),)),
)


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS:
        # one statement per table: its indexes are rebuilt once
        changes = ", ".join(f'ALTER COLUMN {c} TYPE varchar({n}) COLLATE "{collation}"' for c, n in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
