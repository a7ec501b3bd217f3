"""Screen new accounts against suspended ones as they upload, not only when they register.

Many platforms never send a profile (the registration call is optional), and a returning account
shows itself best by what it posts: the same outlet links, the same texts, the same banned media. So
the first uploads of a *new* account are screened too. The check runs on one background thread fed
by a bounded, de-duplicated set of account ids: an upload never waits for it, a burst from one
account costs one check, and when the set is full further accounts are dropped and counted rather
than growing memory without bound.

Only new accounts are screened (first seen within a window, few items so far): an account that has
posted for months without a suspension is not the one coming back, and screening every upload of
every account would spend the background thread on accounts that cannot match.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from seawall.accounts.recidivism import ReappearanceService
from seawall.store.convert import aware
from seawall.store.tables import AccountRow, ItemRow, utcnow

log = logging.getLogger(__name__)

#: Accounts waiting for a check; beyond this new ones are dropped (and counted) until the thread catches up.
MAX_PENDING = 10_000
#: Accounts taken from the waiting set at once (see :meth:`UploadWatch._screen_all`).
BATCH = 256
#: How long the thread lets accounts gather after the first one arrives: screening is "soon", not "now".
GATHER_S = 0.05


@dataclass(frozen=True, slots=True)
class WatchPolicy:
    """Which uploading accounts count as new enough to screen."""

    window: timedelta = timedelta(days=30)
    max_items: int = 20

    @property
    def enabled(self) -> bool:
        return self.max_items > 0 and self.window > timedelta(0)


class UploadWatch:
    """Background screening of new accounts' uploads; alerts go through :class:`ReappearanceService`."""

    def __init__(self, service: ReappearanceService, policy: WatchPolicy,
                 on_alert: Callable[[], None] | None = None) -> None:
        self.service = service
        self.policy = policy
        self.on_alert = on_alert
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._cv = threading.Condition()
        self._busy = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self.checked = 0
        self.alerts = 0
        self.dropped = 0

    def note(self, account_id: str | None) -> None:
        """An account uploaded something: screen it soon (at most once per burst)."""
        if not account_id or not self.policy.enabled:
            return
        with self._cv:
            if self._closed or account_id in self._pending:
                return
            if len(self._pending) >= MAX_PENDING:
                self.dropped += 1
                return
            self._pending[account_id] = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="seawall-reappearance-watch", daemon=True)
                self._thread.start()
            if len(self._pending) == 1 or len(self._pending) >= BATCH:  # the thread waits for nothing else
                self._cv.notify_all()

    def screen(self, account_id: str) -> dict[str, Any] | None:
        """Check one account now if it is new enough; the alert (if any), else None."""
        if not len(self.service.index()) or not self._is_new(account_id):  # nobody suspended: nothing to resemble
            return None
        result = self.service.screen(account_id)
        self.checked += 1
        alert = result.get("alert") if result is not None else None
        if alert is not None and not alert.get("repeated"):
            self.alerts += 1
            if self.on_alert is not None:
                self.on_alert()
        return alert

    def _is_new(self, account_id: str) -> bool:
        with self.service.db.session() as s:
            first_seen = aware(s.scalar(select(AccountRow.first_seen).where(AccountRow.id == account_id)))
            if first_seen is None or first_seen < utcnow() - self.policy.window:
                return False
            items = s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.account_id == account_id))
        return int(items or 0) <= self.policy.max_items

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is pending or being checked (for an orderly stop and for tests)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stats(self) -> dict[str, int]:
        with self._cv:
            return {"pending": len(self._pending), "checked": self.checked, "alerts": self.alerts,
                    "dropped": self.dropped}

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._pending.clear()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending or self._closed)
                # a burst of uploads gathers for a moment: one batch, one question (see _screen_all)
                deadline = time.monotonic() + GATHER_S
                while not self._closed and len(self._pending) < BATCH and (left := deadline - time.monotonic()) > 0:
                    self._cv.wait(left)
                if self._closed:
                    return
                batch = [self._pending.popitem(last=False)[0] for _ in range(min(BATCH, len(self._pending)))]
                self._busy += 1
            try:
                self._screen_all(batch)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

    def _screen_all(self, batch: list[str]) -> None:
        """Screen the accounts that were waiting together.

        Why together: whether anybody is suspended at all is one query, asked once for the batch; with
        nobody suspended (most of the time) an upload cost the thread that query, so under a stream of
        uploads by new accounts it asked it for nearly every upload.
        """
        try:
            if not len(self.service.index()):
                return
        except Exception:
            log.exception("re-appearance screening of %d account(s) failed", len(batch))
            return
        for account_id in batch:
            try:
                self.screen(account_id)
            except Exception:
                log.exception("re-appearance screening of account %r failed", account_id)
