"""Which process runs retro-matching, and one pass at a time across processes and nodes.

``seawall serve --workers N`` starts N processes on one store, and a PostgreSQL deployment may run
several nodes. Each would otherwise run the background pass every few seconds, and each pass that
holds the forms of past items in memory (:mod:`seawall.uploads.retro_forms`, ~2.5 GB per million
image uploads) would hold its own copy. So one process *leads*: the first to take the lead keeps it
until it exits, runs the background passes and holds the forms; the others only run a pass when
asked (``POST /v1/retro/run``, ``seawall retro``), through the slower scan of stored signals.

Two locks, both released by the operating system or the database when the holder dies, so a
``kill -9`` never leaves the lead taken:

- *the lead*: an exclusive ``flock`` on a file in the data directory (the processes of one host),
  and on PostgreSQL a session advisory lock held on a connection of its own (the nodes);
- *a pass*: a second ``flock`` and a transaction-free advisory lock around each pass, so a pass
  asked for in one process never overlaps the leader's (the earlier design had this on PostgreSQL
  only; the processes of one SQLite host could run passes side by side).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from seawall.store.db import Database
from seawall.store.file_lock import FileLock

log = logging.getLogger(__name__)

#: ``pg_try_advisory_lock`` keys: constants no other part of Seawall uses.
PG_PASS_KEY = 0x5EA_3A11
PG_LEAD_KEY = 0x5EA_3A12


class RetroLead:
    """The lead and the pass lock of one :class:`~seawall.uploads.retro.RetroMatcher`.

    ``lock_path`` names the host's lock files (``<lock_path>.lead.lock``, ``<lock_path>.pass.lock``;
    one pair per store in the data directory); without it (a store used by a single process, as in
    embedded use) only the database locks apply.
    """

    def __init__(self, db: Database, lock_path: Path | None) -> None:
        self.db = db
        self._lead_file = FileLock(Path(f"{lock_path}.lead.lock")) if lock_path is not None else None
        self._pass_file = FileLock(Path(f"{lock_path}.pass.lock")) if lock_path is not None else None
        self._lead_conn: Any = None
        self._mutex = threading.Lock()

    def leads(self) -> bool:
        """Take the lead if nobody holds it, keep it if held; whether this process leads now."""
        with self._mutex:
            if self._lead_file is not None and not self._lead_file.acquire(blocking=False):
                return False
            if self.db.dialect != "postgresql":
                return True
            if self._lead_conn is not None and self._alive(self._lead_conn):
                return True
            self._drop_connection()
            conn = self.db.engine.connect()
            try:
                got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LEAD_KEY}))
                conn.commit()
            except Exception:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            # a session lock lives as long as its connection: keep that connection out of the pool
            conn.detach()
            self._lead_conn = conn
            log.info("retro-matching: this process leads the background passes")
            return True

    @staticmethod
    def _alive(conn: Any) -> bool:
        try:
            conn.scalar(text("SELECT 1"))
            conn.commit()
            return True
        except Exception:
            return False

    def _drop_connection(self) -> None:
        """Release the lead's session lock, then close its connection. Closing alone releases it too, but
        only once the server has read the connection's end, after ``close`` returns: another process asking
        at once could still find the lead taken."""
        if self._lead_conn is not None:
            try:
                self._lead_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LEAD_KEY})
                self._lead_conn.commit()
            except Exception:  # a broken connection: the server has released its locks already
                log.debug("retro lead connection was already gone", exc_info=True)
            try:
                self._lead_conn.close()
            except Exception:  # a broken connection: the server has released its locks already
                log.debug("retro lead connection was already gone", exc_info=True)
            self._lead_conn = None

    @contextmanager
    def one_pass(self) -> Iterator[bool]:
        """Hold the pass lock for the body; yields False (and holds nothing) when another pass runs."""
        if self._pass_file is not None and not self._pass_file.acquire(blocking=False):
            yield False
            return
        try:
            if self.db.dialect != "postgresql":
                yield True
                return
            with self.db.engine.connect() as conn:
                got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_PASS_KEY}))
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_PASS_KEY})
                    conn.commit()
        finally:
            if self._pass_file is not None:
                self._pass_file.release()

    def close(self) -> None:
        """Give up the lead (engine shutdown): another process takes it at its next tick."""
        with self._mutex:
            self._drop_connection()
            if self._lead_file is not None:
                self._lead_file.release()
