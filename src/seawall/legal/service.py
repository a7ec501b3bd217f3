"""The legal modules' clock-driven duties, run in the background (built by :func:`seawall.composition.legal_service`).

``tick()`` is the one place time-driven work happens — alerts on running orders, preservation
expiry, release of embargoed notices — so a test moves a :class:`~seawall.legal.clock.ManualClock`
and calls ``tick()`` instead of sleeping, and a server runs the same ``tick()`` on a timer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from seawall.legal import notices, preservation, statements
from seawall.legal.clock import Clock
from seawall.legal.orders import OrderService

if TYPE_CHECKING:
    from seawall.store.db import Database
    from seawall.webhooks.outbox import Outbox

log = logging.getLogger(__name__)


class LegalService:
    """Removal orders (``orders``) and the duties :meth:`tick` does when they fall due.

    Given the store, the order service (whose clock and settings it shares), the outbox for the events a
    tick releases and ``events_queued`` to wake the webhook sender.
    """

    def __init__(self, db: Database, *, orders: OrderService, outbox: Outbox,
                 events_queued: Callable[[], None]) -> None:
        self.db = db
        self.orders = orders
        self.settings = orders.settings
        self._clock: Clock = orders.clock
        self._outbox = outbox
        self._events_queued = events_queued
        if self.settings.sor_enabled:
            statements.start_cursor(self.db)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def clock(self) -> Clock:
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Swap the clock everywhere at once (tests inject a manual one into a running app)."""
        self._clock = clock
        self.orders.clock = clock

    def tick(self) -> dict[str, Any]:
        """Do every duty that is due now: order alerts, preservation expiry, embargoed notices."""
        alerts = self.orders.alert()
        now = self._clock.now()
        with self.db.session() as s:
            purged = preservation.purge(s, now)
            released = notices.release_due(s, now)
            queued = self._outbox.emit(s, released)
        made: list[int] = []
        if self.settings.sor_enabled:
            made, events = statements.generate(self.db, self.settings, now)
            if events:
                with self.db.session() as s:
                    queued += self._outbox.emit(s, events)
        if queued:
            self._events_queued()
        return {"alerts": alerts, "purged": purged, "notices_released": [d["id"] for _, d in released],
                "statements": made}

    def start(self) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.settings.tick_seconds):
                try:
                    self.tick()
                except Exception:
                    log.exception("legal duties tick failed; retrying")

        self._thread = threading.Thread(target=loop, name="seawall-legal-tick", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
