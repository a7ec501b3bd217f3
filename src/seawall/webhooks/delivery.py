"""Delivers outbox events: signed per Standard Webhooks, retried with exponential backoff, dead-lettered.

Work is claimed with a lease (``lease_until`` / ``lease_owner``) in one atomic UPDATE, so several
processes can send side by side without sending the same delivery at once, and a sender that dies
mid-delivery only delays its deliveries until the lease runs out; another sender then takes them.
Delivery is at least once: a sender killed after the receiver got a message but before it recorded
success sends it again, with the same ``webhook-id``, so receivers deduplicate by that header.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from standardwebhooks import Webhook

from seawall import __version__
from seawall.store.db import UNAVAILABLE_ERRORS, Database
from seawall.store.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookRow,
    utcnow,
)
from seawall.webhooks.ssrf import TargetPolicy, UnsafeTarget

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    timeout: float = 10.0
    max_attempts: int = 8
    retry_base: float = 10.0
    retry_max: float = 3600.0
    poll: float = 0.5
    workers: int = 4

    @property
    def lease(self) -> timedelta:
        """Long enough for one attempt (DNS, connect, send, read) to finish and be recorded."""
        return timedelta(seconds=self.timeout * 2 + 1)

    def backoff(self, attempts: int) -> float:
        """Delay before the next try after ``attempts`` failures: doubling, capped, ±20 % jitter."""
        delay = min(self.retry_max, self.retry_base * (2 ** max(0, attempts - 1)))
        return delay * random.uniform(0.8, 1.2)


@dataclass(frozen=True, slots=True)
class Claim:
    delivery_id: int
    token: str
    attempts: int
    url: str
    secret: str
    message_id: str
    body: str
    #: ``time.monotonic()`` when the lease runs out and another sender may take the delivery.
    lease_ends: float = 0.0


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def sign_headers(secret: str, message_id: str, body: str, at: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (the timestamp is the attempt's own)."""
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(int(at if at is not None else time.time()), tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }


class WebhookSender:
    def __init__(self, db: Database, policy: TargetPolicy, config: DeliveryConfig) -> None:
        self.db = db
        self.policy = policy
        self.config = config
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        """The HTTP client, made on the first attempt: making one loads the CA bundle (some 25 ms of CPU),
        which a sender that never has anything to deliver (a fresh server, a test's app) need not pay."""
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=False, trust_env=False, timeout=self.config.timeout,
                                            headers={"user-agent": f"Seawall-Webhooks/{__version__}"})
            return self._client

    # --- one round -------------------------------------------------------------------------------
    def claim(self, limit: int) -> list[Claim]:
        """Lease up to ``limit`` due deliveries for this sender, atomically."""
        now = utcnow()
        token = uuid.uuid4().hex
        with self.db.session() as s:
            due = (
                select(WebhookDeliveryRow.id)
                .where(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_attempt_at <= now,
                       or_(WebhookDeliveryRow.lease_until.is_(None), WebhookDeliveryRow.lease_until < now))
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(limit)
            )
            if self.db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            s.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id.in_(due.scalar_subquery()))
                .values(lease_until=now + self.config.lease, lease_owner=token)
                .execution_options(synchronize_session=False)
            )
            rows = s.execute(
                select(WebhookDeliveryRow.id, WebhookDeliveryRow.attempts, WebhookRow.url, WebhookRow.secret,
                       WebhookEventRow.message_id, WebhookEventRow.payload)
                .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
                .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
                .where(WebhookDeliveryRow.lease_owner == token)
                .order_by(WebhookDeliveryRow.id)
            ).all()
        lease_ends = time.monotonic() + self.config.lease.total_seconds()
        return [Claim(r.id, token, r.attempts, r.url, r.secret, r.message_id,
                      json.dumps(r.payload, separators=(",", ":"), ensure_ascii=False), lease_ends) for r in rows]

    def send(self, claim: Claim) -> AttemptResult:
        """One attempt: re-check the target, connect to the checked address, never follow a redirect."""
        started = time.perf_counter()

        def result(ok: bool, code: int | None, error: str | None) -> AttemptResult:
            return AttemptResult(ok, code, error[:MAX_ERROR_CHARS] if error else None,
                                 int((time.perf_counter() - started) * 1000))

        try:
            target, addresses = self.policy.check(claim.url)
        except UnsafeTarget as exc:
            return result(False, None, f"refused: {exc.message}")
        headers = {"content-type": "application/json", "host": target.host_header,
                   **sign_headers(claim.secret, claim.message_id, claim.body)}
        extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
        last_error = "no address to connect to"
        client = self._http()
        for address in addresses:
            try:
                request = client.build_request("POST", target.url_for(address), content=claim.body.encode(),
                                               headers=headers, extensions=extensions)
                response = client.send(request, stream=True)
                try:
                    code = response.status_code
                finally:
                    response.close()
            except httpx.TimeoutException as exc:
                return result(False, None, f"timed out after {self.config.timeout:g} s ({type(exc).__name__})")
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= code < 300:
                return result(True, code, None)
            if 300 <= code < 400:
                return result(False, code, "redirects are not followed; point the webhook at the final URL")
            return result(False, code, f"HTTP {code}")
        return result(False, None, last_error)

    def record(self, claim: Claim, outcome: AttemptResult) -> None:
        """Log the attempt; mark delivered, schedule the retry, or dead-letter after the last attempt."""
        now = utcnow()
        with self.db.session() as s:
            s.add(WebhookAttemptRow(delivery_id=claim.delivery_id, attempted_at=now, status_code=outcome.status_code,
                                    error=outcome.error, duration_ms=outcome.duration_ms))
            attempts = claim.attempts + 1
            values: dict[str, Any] = {"attempts": attempts, "last_status_code": outcome.status_code,
                                      "last_error": outcome.error, "lease_until": None, "lease_owner": None}
            if outcome.ok:
                values.update(status="delivered", delivered_at=now)
                where = [WebhookDeliveryRow.status == "pending"]
            else:
                if attempts >= self.config.max_attempts:
                    values["status"] = "dead"
                else:
                    values["next_attempt_at"] = now + timedelta(seconds=self.config.backoff(attempts))
                # a sender whose lease ran out must not overwrite the one that took over
                where = [WebhookDeliveryRow.lease_owner == claim.token]
            s.execute(update(WebhookDeliveryRow).where(WebhookDeliveryRow.id == claim.delivery_id, *where)
                      .values(**values).execution_options(synchronize_session=False))

    def record_while_leased(self, claim: Claim, outcome: AttemptResult) -> None:
        """``record``, tried again while the store is away and the lease still holds.

        The receiver already has the message: giving up here would let the lease run out and another
        sender deliver it a second time, so a database restart costs a short wait instead of a duplicate.
        """
        delay = 0.2
        while True:
            try:
                self.record(claim, outcome)
                return
            except UNAVAILABLE_ERRORS:
                if self._stop.is_set() or time.monotonic() + delay >= claim.lease_ends - 1.0:
                    raise
                log.warning("webhook delivery %s sent but the store did not answer; recording it again in %.1f s",
                            claim.delivery_id, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def run_once(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Claim, send and record one batch; returns how many deliveries were attempted."""
        claims = self.claim(self.config.workers * 2)
        if not claims:
            return 0

        def one(c: Claim) -> None:
            try:
                self.record_while_leased(c, self.send(c))
            except Exception:
                log.exception("webhook delivery %s failed unexpectedly; its lease will expire", c.delivery_id)

        if pool is None:
            for c in claims:
                one(c)
        else:
            list(pool.map(one, claims))
        return len(claims)

    # --- the background loop ---------------------------------------------------------------------
    def wake(self) -> None:
        """Deliver soon: called after a commit that queued events, so they need not wait for the poll."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            with ThreadPoolExecutor(self.config.workers, thread_name_prefix="seawall-webhook") as pool:
                while not self._stop.is_set():
                    try:
                        busy = self.run_once(pool)
                    except Exception:
                        log.exception("webhook delivery round failed; retrying")
                        busy = 0
                    if not busy:
                        self._wake.wait(self.config.poll)
                        self._wake.clear()

        self._thread = threading.Thread(target=loop, name="seawall-webhook-sender", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop after the attempts in flight; anything not yet sent stays pending for the next sender."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout * 2 + 5)
            self._thread = None
        with self._client_lock:
            if self._client is not None:
                self._client.close()
