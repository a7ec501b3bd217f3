"""Webhook subscriptions (admin-managed), their delivery log, and manual redelivery."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.errors import Conflict, InvalidInput, NotFound
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookRow,
    utcnow,
    webhook_key,
)
from seawall.store.write_lock import take_write_lock
from seawall.webhooks.events import EVENT_TYPES
from seawall.webhooks.outbox import Outbox
from seawall.webhooks.ssrf import TargetPolicy

DELIVERY_STATUSES = ("pending", "delivered", "dead")


def new_secret() -> str:
    """A fresh signing secret in the ``whsec_<base64>`` form Standard Webhooks libraries accept."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_secret(secret: str) -> str:
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise InvalidInput("secret: must be whsec_ followed by base64", code="invalid_field") from None
    if not 24 <= len(key) <= 64:
        raise InvalidInput("secret: must encode 24 to 64 random bytes", code="invalid_field")
    return "whsec_" + raw


def _check_events(event_types: list[str], known: Mapping[str, str] = EVENT_TYPES) -> list[str]:
    if not event_types:
        raise InvalidInput("event_types: subscribe to at least one event type", code="invalid_field")
    unknown = [e for e in event_types if e not in known]
    if unknown:
        raise InvalidInput(f"event_types: unknown {', '.join(unknown)}; known: {', '.join(known)}",
                           code="unknown_event_type")
    return sorted(set(event_types))


def _iso(value: Any) -> str | None:
    dt = aware(value)
    return dt.isoformat() if dt else None


def webhook_dict(r: WebhookRow, *, with_secret: bool = False) -> dict[str, Any]:
    out = {"id": r.id, "url": r.url, "event_types": list(r.event_types), "description": r.description,
           "enabled": r.enabled, "created_by": r.created_by, "created_at": _iso(r.created_at),
           "updated_at": _iso(r.updated_at)}
    if with_secret:
        out["secret"] = r.secret
    return out


class WebhookService:
    def __init__(self, db: Database, policy: TargetPolicy, event_types: Mapping[str, str] | None = None) -> None:
        self.db = db
        self.policy = policy
        #: Subscribable event types: the registry's (built-in and plugins' events), else the built-in list.
        self.event_types: Mapping[str, str] = EVENT_TYPES if event_types is None else event_types
        self.outbox = Outbox(db)

    def _get(self, s: Session, webhook_id: int, *, lock: bool = False) -> WebhookRow:
        """The subscription; with ``lock``, read under its row lock (SQLite: the write lock) for a change whose
        key is computed from what is stored, so a change made at the same moment cannot leave a stale key."""
        if lock:
            take_write_lock(s)
        row = s.get(WebhookRow, webhook_id, with_for_update=lock)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}", code="webhook_not_found")
        return row

    def create(self, *, url: str, event_types: list[str], description: str = "", enabled: bool = True,
               secret: str | None = None, created_by: str = "") -> dict[str, Any]:
        """Save a subscription; the URL is checked against SSRF now and again before every delivery.

        One subscription per URL and event set, held by a unique key in the store: of concurrent
        identical requests one creates it and the others get 409 ``webhook_exists`` naming it.
        """
        self.policy.check(url)
        events = _check_events(event_types, self.event_types)
        now = utcnow()
        key = webhook_key(url, events)
        try:
            with self.db.session() as s:
                row = WebhookRow(url=url, event_types=events,
                                 secret=_check_secret(secret) if secret else new_secret(),
                                 description=description, enabled=enabled, created_by=created_by, created_at=now,
                                 updated_at=now, dedupe_key=key)
                s.add(row)
                s.flush()
                out = webhook_dict(row, with_secret=True)
        except IntegrityError as exc:
            raise self._exists(key) from exc
        self.outbox.reload()
        return out

    def _exists(self, key: str) -> Conflict:
        with self.db.session() as s:
            existing = s.scalar(select(WebhookRow.id).where(WebhookRow.dedupe_key == key))
        return Conflict(f"webhook {existing} already sends these event types to this URL", code="webhook_exists",
                        detail={"webhook_id": existing})

    def list_webhooks(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [webhook_dict(r) for r in s.scalars(select(WebhookRow).order_by(WebhookRow.id))]

    def get(self, webhook_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            return webhook_dict(self._get(s, webhook_id))

    def update(self, webhook_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        if "url" in changes:
            self.policy.check(changes["url"])
        if "event_types" in changes:
            changes["event_types"] = _check_events(changes["event_types"], self.event_types)
        if "secret" in changes:
            changes["secret"] = _check_secret(changes["secret"])
        try:
            with self.db.session() as s:
                row = self._get(s, webhook_id, lock=True)
                for key, value in changes.items():
                    setattr(row, key, value)
                row.dedupe_key = webhook_key(row.url, list(row.event_types or []))
                row.updated_at = utcnow()
                s.flush()
                out = webhook_dict(row, with_secret="secret" in changes)
        except IntegrityError as exc:
            raise self._exists(self._key_after(webhook_id, changes)) from exc
        self.outbox.reload()
        return out

    def _key_after(self, webhook_id: int, changes: dict[str, Any]) -> str:
        """The key the subscription would have had with ``changes`` applied (for the 409 it got)."""
        with self.db.session() as s:
            row = self._get(s, webhook_id)
            return webhook_key(changes.get("url", row.url), changes.get("event_types", list(row.event_types or [])))

    def delete(self, webhook_id: int) -> None:
        with self.db.session() as s:
            s.delete(self._get(s, webhook_id))
        self.outbox.reload()

    def deliveries(self, webhook_id: int, *, status: str | None = None, after: int = 0,
                   limit: int = 100) -> list[dict[str, Any]]:
        """The delivery log, newest first after ``after`` (a delivery id; 0 = from the newest)."""
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidInput(f"status: must be one of {', '.join(DELIVERY_STATUSES)}", code="invalid_field")
        with self.db.session() as s:
            self._get(s, webhook_id)
            q = (select(WebhookDeliveryRow, WebhookEventRow.message_id, WebhookEventRow.type)
                 .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
                 .where(WebhookDeliveryRow.webhook_id == webhook_id))
            if status:
                q = q.where(WebhookDeliveryRow.status == status)
            if after:
                q = q.where(WebhookDeliveryRow.id < after)
            rows = s.execute(q.order_by(WebhookDeliveryRow.id.desc()).limit(limit)).all()
            ids = [r[0].id for r in rows]
            attempts: dict[int, list[dict[str, Any]]] = {}
            if ids:
                for a in s.scalars(select(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(ids))
                                   .order_by(WebhookAttemptRow.id)):
                    attempts.setdefault(a.delivery_id, []).append({
                        "at": _iso(a.attempted_at), "status_code": a.status_code, "error": a.error,
                        "duration_ms": a.duration_ms})
        return [
            {"id": d.id, "webhook_id": d.webhook_id, "message_id": message_id, "event_type": event_type,
             "status": d.status, "attempts": d.attempts, "next_attempt_at": _iso(d.next_attempt_at),
             "last_status_code": d.last_status_code, "last_error": d.last_error,
             "delivered_at": _iso(d.delivered_at), "created_at": _iso(d.created_at),
             "log": attempts.get(d.id, [])}
            for d, message_id, event_type in rows
        ]

    def redeliver(self, webhook_id: int, delivery_id: int) -> dict[str, Any]:
        """Send again (same ``webhook-id``), e.g. after a dead-letter once the receiver is fixed."""
        with self.db.session() as s:
            self._get(s, webhook_id)
            row = s.get(WebhookDeliveryRow, delivery_id)
            if row is None or row.webhook_id != webhook_id:
                raise NotFound(f"no delivery {delivery_id} for webhook {webhook_id}", code="delivery_not_found")
            s.execute(update(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id).values(
                status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None, lease_owner=None,
                delivered_at=None).execution_options(synchronize_session=False))
        return self.deliveries(webhook_id, after=delivery_id + 1, limit=1)[0]
