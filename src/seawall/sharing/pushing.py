"""Sending this instance's new bank entries to sources that accept them (``Exchange.push``).

A source lists the local banks it is sent (``push_banks``). What was sent is a cursor over bank entry
ids kept on the source, moved in the store only after the exchange took the batch, so an entry added
by a person, an import or a reviewer's decision is sent once it exists, a restart or an outage loses
nothing, and a batch that failed is sent again after a back-off (the exchange absorbs a repeat: a
Seawall publisher stores each entry once). Entries that came from the source itself are not echoed
back to it. On PostgreSQL, ids are handed out at insert and not at commit, so only entries whose
transaction is below the commit horizon are sent: one with a lower id still being written is waited
for, never skipped.

Pushes of one source never overlap in one process (the background runner, the API and the console
take turns: a second caller waits, then sends what is still new, usually nothing). Across processes
or nodes the cursor moves only from the value a push read, so when two send the same batch at once
one of them moves the cursor and counts the batch; the other counts nothing, goes on from the cursor
it finds, and the publisher stores the repeated entries once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select, text, update

from seawall.errors import InvalidInput, NotFound, SeawallError
from seawall.sharing.backoff import backoff_seconds
from seawall.sharing.exchanges.base import ExchangeUnavailable, RemoteEntry
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow, BankEntrySourceRow, BankRow, SourceRow, utcnow

if TYPE_CHECKING:
    from seawall.sharing.sources import SourceService

log = logging.getLogger(__name__)

PUSH_BATCH = 500
#: Batches one push sends before giving the next source its turn.
MAX_BATCHES = 20


@dataclass(slots=True)
class PushReport:
    source: str
    pushed: int = 0
    cursor: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "pushed": self.pushed, "cursor": self.cursor, "error": self.error}


class PushSender:
    def __init__(self, db: Database, sources: SourceService) -> None:
        self.db = db
        self.sources = sources
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        """The lock that keeps two pushes of source ``name`` in this process from sending the same batch."""
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def due(self) -> list[str]:
        """Enabled sources with banks to push whose push back-off (if failing) ran out."""
        now = utcnow()
        with self.db.session() as s:
            rows = s.execute(select(SourceRow.name, SourceRow.push_banks, SourceRow.next_push_at)
                             .where(SourceRow.enabled.is_(True))).all()
        due = []
        for name, banks, nxt in rows:
            wait_until = aware(nxt)
            if banks and (wait_until is None or wait_until <= now):
                due.append(name)
        return due

    def run_once(self) -> list[PushReport]:
        """Push every due source; failures are recorded on the source, never raised."""
        return [self.push(name) for name in self.due()]

    def push(self, name: str) -> PushReport:
        """Send ``name`` the entries of its push banks added since the last push (a manual push ignores
        the back-off); the source's status shows the last push and the last error. A push of the same
        source already running in this process is waited for, so its entries are not sent twice."""
        with self._lock(name):
            return self._push(name)

    def _push(self, name: str) -> PushReport:
        with self.db.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.name == name))
            if row is None:
                raise NotFound(f"no source named {name!r}", code="source_not_found")
            if not row.push_banks:
                raise InvalidInput(f"source {name!r} has no push_banks: nothing is sent to it",
                                   code="push_not_configured")
            source_id, cursor = row.id, int(row.push_cursor)
            bank_ids = list(s.scalars(select(BankRow.id).where(BankRow.name.in_(list(row.push_banks)))))
        report = PushReport(source=name, cursor=cursor)
        try:
            exchange = self.sources.exchange_for(row)
            for _ in range(MAX_BATCHES):
                batch, last = self._batch(source_id, bank_ids, cursor)
                if last is None:
                    break
                if batch:
                    exchange.push(batch)
                if not self._moved(source_id, cursor, last, len(batch)):
                    # another node pushed this batch first and counted it: go on from where it left the cursor
                    now_at = self._cursor(source_id, cursor)
                    if now_at == cursor:  # the source is gone
                        break
                    cursor = report.cursor = now_at
                    continue
                cursor = report.cursor = last
                report.pushed += len(batch)
        except (SeawallError, ExchangeUnavailable) as exc:
            report.error = exc.message
            self._failed(source_id, exc.message, getattr(exc, "retry_after", None))
        except Exception as exc:  # an exchange plugin's bug must not stop the other pushes
            log.exception("source %s: push failed", name)
            report.error = f"{type(exc).__name__}: {exc}"
            self._failed(source_id, report.error, None)
        return report

    def _batch(self, source_id: int, bank_ids: list[int], cursor: int) -> tuple[list[RemoteEntry], int | None]:
        """Entries after ``cursor`` to send (not those the source itself reported) and the last id read."""
        if not bank_ids:
            return [], None
        echo = exists().where(BankEntrySourceRow.entry_id == BankEntryRow.id,
                              BankEntrySourceRow.source_id == source_id)
        q = (select(BankEntryRow.id, BankEntryRow.signal_type, BankEntryRow.value, BankEntryRow.labels,
                    BankEntryRow.first_seen, echo)
             .where(BankEntryRow.bank_id.in_(bank_ids), BankEntryRow.id > cursor)
             .order_by(BankEntryRow.id).limit(PUSH_BATCH))
        horizon = self.db.commit_horizon()
        if horizon is not None:
            q = q.where(text("bank_entries.tx_id < (:horizon)::text::xid8")).params(horizon=horizon)
        with self.db.session() as s:
            rows = s.execute(q).all()
        if not rows:
            return [], None
        entries = [RemoteEntry(str(t), str(v), list(labels or []), aware(first), str(i), k)
                   for k, (i, t, v, labels, first, echoed) in enumerate(rows) if not echoed]
        return entries, int(rows[-1][0])

    def _cursor(self, source_id: int, default: int) -> int:
        with self.db.session() as s:
            found = s.scalar(select(SourceRow.push_cursor).where(SourceRow.id == source_id))
        return default if found is None else int(found)

    def _moved(self, source_id: int, before: int, after: int, sent: int) -> bool:
        """Move the cursor from ``before`` to ``after`` and count ``sent``; False if it was no longer at
        ``before`` (another push moved it: nothing is counted twice)."""
        now = utcnow()
        with self.db.session() as s:
            at_before = (SourceRow.id == source_id) & (SourceRow.push_cursor == before)
            moved = s.execute(update(SourceRow).where(at_before).values(
                push_cursor=after, entries_pushed=SourceRow.entries_pushed + sent,
                last_push_at=now if sent else SourceRow.last_push_at, last_push_error=None, push_failures=0,
                next_push_at=None))
        return bool(getattr(moved, "rowcount", 0))

    def _failed(self, source_id: int, message: str, retry_after: float | None) -> None:
        with self.db.session() as s:
            row = s.get(SourceRow, source_id)
            if row is None:
                return
            row.push_failures += 1
            row.last_push_error, row.last_push_error_at = message[:2000], utcnow()
            row.next_push_at = utcnow() + timedelta(seconds=backoff_seconds(row.push_failures, retry_after))
