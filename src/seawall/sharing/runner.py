"""Background syncing of sources and sending reviewers' opinions back to them.

One supervisor thread looks every second for sources that are due (their interval passed and their
back-off, if failing, ran out) and runs each sync on its own thread, so a slow exchange delays only
itself; live exchanges (Seawall feeds) hold a long poll open and are restarted as soon as it returns,
which is what makes a partner's new entry matchable here within seconds. Nothing here runs inside an
upload's request or holds a lock an upload needs.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from seawall.errors import SeawallError
from seawall.sharing.exchanges.base import Opinion
from seawall.sharing.sources import SourceService
from seawall.store.db import Database
from seawall.store.tables import (
    BankEntryRow,
    BankEntrySourceRow,
    CaseDecisionRow,
    CaseRow,
    MatchRow,
    RuntimeFlagRow,
    SourceRow,
    utcnow,
)

log = logging.getLogger(__name__)

FEEDBACK_CURSOR = "source_feedback_cursor"
#: Name of the thread that pushes to sources (source names cannot contain spaces, so it is never one).
PUSH_THREAD = "seawall pushes"
FEEDBACK_BATCH = 200
OPINION_OF = {"violating": "true_positive", "not_violating": "false_positive"}


class FeedbackSender:
    """Reviewer decisions on items matched through a source → that source's ``feedback`` (if it has one).

    Follows ``case_decisions`` by id with a cursor in the store; the cursor moves only once every
    source that should hear of a batch took it, and publishers keep one opinion per partner and entry,
    so a retry never counts twice.
    """

    def __init__(self, db: Database, sources: SourceService) -> None:
        self.db = db
        self.sources = sources

    def _cursor(self) -> int:
        with self.db.session() as s:
            row = s.get(RuntimeFlagRow, FEEDBACK_CURSOR)
            return int((row.value or {}).get("case_decision_id", 0)) if row is not None else 0

    def _save(self, cursor: int) -> None:
        with self.db.session() as s:
            row = s.get(RuntimeFlagRow, FEEDBACK_CURSOR)
            value = {"case_decision_id": cursor}
            if row is None:
                s.add(RuntimeFlagRow(name=FEEDBACK_CURSOR, value=value, updated_by="feedback", updated_at=utcnow()))
            else:
                row.value, row.updated_at = value, utcnow()

    def run_once(self) -> dict[str, Any]:
        cursor = self._cursor()
        with self.db.session() as s:
            decisions = s.execute(
                select(CaseDecisionRow.id, CaseDecisionRow.outcome, CaseRow.item_id)
                .join(CaseRow, CaseRow.id == CaseDecisionRow.case_id)
                .where(CaseDecisionRow.id > cursor).order_by(CaseDecisionRow.id).limit(FEEDBACK_BATCH)).all()
            if not decisions:
                return {"decisions": 0, "sent": 0}
            by_source: dict[int, list[Opinion]] = defaultdict(list)
            for _, outcome, item_id in decisions:
                opinion = OPINION_OF.get(outcome)
                if opinion is None:
                    continue
                rows = s.execute(
                    select(BankEntrySourceRow.source_id, BankEntrySourceRow.remote_id, BankEntryRow.signal_type,
                           BankEntryRow.value, BankEntryRow.labels)
                    .join(MatchRow, MatchRow.entry_id == BankEntrySourceRow.entry_id)
                    .join(BankEntryRow, BankEntryRow.id == BankEntrySourceRow.entry_id)
                    .where(MatchRow.item_id == item_id)).all()
                for source_id, remote_id, signal_type, value, labels in rows:
                    by_source[int(source_id)].append(Opinion(remote_id, signal_type, value, opinion,
                                                             list(labels or [])))
            sources = {r.id: r for r in s.scalars(select(SourceRow).where(SourceRow.id.in_(list(by_source))))}
        sent = 0
        for source_id, opinions in by_source.items():
            row = sources.get(source_id)
            if row is None:
                continue
            try:
                exchange = self.sources.exchange_for(row)
                if not exchange.supports_feedback:
                    continue
                sent += exchange.feedback(opinions)
            except SeawallError as exc:
                log.warning("feedback to source %s failed (%s); retrying later", row.name, exc.message)
                return {"decisions": 0, "sent": sent, "error": exc.message}
        self._save(int(decisions[-1][0]))
        return {"decisions": len(decisions), "sent": sent}


class SourceRunner:
    def __init__(self, sources: SourceService, feedback: FeedbackSender | None, *, tick: float = 1.0,
                 live_wait: float = 20.0) -> None:
        self.sources = sources
        self.feedback = feedback
        self.tick = tick
        self.live_wait = live_wait
        self._stop = threading.Event()
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="seawall-sources", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                due, any_source = self.sources.due_and_any()
                for name, live, _interval in due:
                    self._start(name, live)
                if any_source:
                    self._start_pushes()
                if self.feedback is not None and any_source:  # no source, nobody to tell
                    self.feedback.run_once()
            except Exception:
                log.exception("source supervisor failed; retrying")
            self._stop.wait(self.tick)

    def _start(self, name: str, live: bool) -> None:
        with self._lock:
            t = self._running.get(name)
            if t is not None and t.is_alive():
                return

            def run() -> None:
                try:
                    report = self.sources.sync(name, wait=self.live_wait if live else 0.0)
                    if report.added or report.tombstones:
                        log.info("source %s: %d added, %d withdrawn", name, report.added, report.tombstones)
                except Exception:
                    log.exception("source %s: sync failed", name)

            t = threading.Thread(target=run, name=f"seawall-source-{name}", daemon=True)
            self._running[name] = t
            t.start()

    def _start_pushes(self) -> None:
        """Send new entries to the sources that are pushed to, on a thread of their own so a slow
        exchange delays neither the syncs nor the next tick; one push round at a time."""
        with self._lock:
            t = self._running.get(PUSH_THREAD)
            if t is not None and t.is_alive():
                return

            def run() -> None:
                try:
                    for report in self.sources.pushes.run_once():
                        if report.pushed:
                            log.info("source %s: %d entries pushed", report.source, report.pushed)
                except Exception:
                    log.exception("pushing to sources failed")

            t = threading.Thread(target=run, name=PUSH_THREAD, daemon=True)
            self._running[PUSH_THREAD] = t
            t.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
