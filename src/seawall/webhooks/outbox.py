"""The transactional outbox: events are rows written in the caller's transaction.

If the decision commits, its events commit with it and the sender will deliver them; if it rolls
back, no event escapes. One delivery row is fanned out per subscribed webhook at write time.

Most uploads happen with no subscriber for their events, so which event types have subscribers is
kept in memory (reloaded on every engine refresh and at once after a local change) and the
subscription query is skipped when nobody listens. A subscription made by another process is seen
within one refresh interval; a deleted or disabled one is never written to, because whenever the
cache says someone listens the subscriptions are read again inside the transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from seawall.store.db import Database
from seawall.store.tables import WebhookDeliveryRow, WebhookEventRow, WebhookRow, utcnow
from seawall.webhooks.events import envelope

#: Event types of enabled webhooks; built once and run on a bare connection, as every server process re-reads it
#: at each index refresh and a session around it cost more than the query.
_SUBSCRIBED = select(WebhookRow.event_types).where(WebhookRow.enabled)


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.subscribed: frozenset[str] = frozenset()
        self.reload()

    def reload(self) -> None:
        """Re-read which event types have at least one enabled subscriber (four times a second: see ``_SUBSCRIBED``)."""
        with self.db.engine.connect() as conn:
            rows = conn.scalars(_SUBSCRIBED).all()
        self.subscribed = frozenset(t for types in rows for t in (types or []))

    def emit(self, s: Session, events: list[tuple[str, dict[str, Any]]]) -> int:
        """Queue events for every enabled webhook subscribed to their type; returns deliveries queued."""
        if not any(t in self.subscribed for t, _ in events):
            return 0
        hooks = s.execute(select(WebhookRow.id, WebhookRow.event_types).where(WebhookRow.enabled)).all()
        now = utcnow()
        queued = 0
        for event_type, data in events:
            targets = [h.id for h in hooks if event_type in (h.event_types or [])]
            if not targets:
                continue
            event_id = s.execute(insert(WebhookEventRow).returning(WebhookEventRow.id), {
                "message_id": f"msg_{uuid.uuid4().hex}", "type": event_type,
                "payload": envelope(event_type, data, now), "created_at": now,
            }).scalar_one()
            s.execute(insert(WebhookDeliveryRow), [
                {"event_id": event_id, "webhook_id": hook_id, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now}
                for hook_id in targets
            ])
            queued += len(targets)
        return queued
