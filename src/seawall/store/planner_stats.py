"""PostgreSQL's planner statistics brought up to date after Seawall's own bulk writes.

PostgreSQL plans from statistics that ``ANALYZE`` gathers, normally autovacuum's job. A table bulk
loaded with millions of rows has none until autovacuum gets to it (a minute later at best; never on a
server that runs with autovacuum off), and the planner then assumes a few hundred rows. For a feed
page (``bank_id IN (…) AND id > … ORDER BY id LIMIT n``) that means a bitmap scan of the whole bank
and a sort of it on disk for every page, seconds a page at two million entries, instead of reading
``n`` rows in id order, tens of milliseconds. So after a write that added a large share of a table's
rows (an import, a sync), the writer refreshes the statistics itself; ``ANALYZE`` reads a fixed
sample of rows, about a second whatever the table's size.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from seawall.store.db import Database

log = logging.getLogger(__name__)

#: Tables whose statistics a bulk write of entries can leave stale (the only names ever analysed here).
ENTRY_TABLES = ("bank_entries", "bank_entry_sources")
#: Fewer new rows than this never trigger an ANALYZE (autovacuum's own threshold is of this order).
MIN_ROWS = 10_000
#: New rows, as a share of the rows the statistics last counted, that make them stale.
GROWTH = 0.2


def refresh_after_bulk_write(db: Database, written: int, tables: tuple[str, ...] = ENTRY_TABLES) -> list[str]:
    """``ANALYZE`` each of ``tables`` whose statistics predate ``written`` new rows (PostgreSQL only);
    the names analysed. A database failure is logged, never raised: stale statistics make queries slower,
    not wrong (a name outside :data:`ENTRY_TABLES` is a programming error and raises ValueError)."""
    unknown = [t for t in tables if t not in ENTRY_TABLES]
    if unknown:  # the names go into SQL text: only the known ones
        raise ValueError(f"not an entry table: {unknown[0]!r}")
    if db.dialect != "postgresql" or written < MIN_ROWS:
        return []
    done: list[str] = []
    for table in tables:
        try:
            with db.session() as s:
                counted = s.scalar(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table})
                if counted is None or (counted >= 0 and written < GROWTH * counted):
                    continue
                s.execute(text(f"ANALYZE {table}"))
            done.append(table)
        except Exception:  # a lock timeout or a permission: the planner keeps its old statistics
            log.warning("could not refresh the planner statistics of %s", table, exc_info=True)
    return done
