"""One webhook subscription per URL and event set: a unique key over both.

Concurrent identical ``POST /v1/webhooks`` requests could each store a subscription, and every event
was then delivered twice to the same endpoint. The key is a SHA-256 of the URL and the sorted event
set, filled in here for existing subscriptions. A store that already holds duplicates is not changed
silently: the upgrade stops and names them, deleting nothing, so an operator decides which to keep.
Console usernames were unique from the start (0007).

Revision ID: 0022
Revises: 0023
Create Date: 2026-12-03 07:10:00
"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(url: str, event_types: list[str]) -> str:
    """As ``seawall.store.tables.webhook_key`` at this revision (copied: a migration must not change later)."""
    return hashlib.sha256("\n".join([url, *sorted(set(event_types))]).encode("utf-8")).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, url, event_types FROM webhooks ORDER BY id")).all()
    keys: dict[int, str] = {}
    by_key: dict[str, list[int]] = {}
    for webhook_id, url, events in rows:
        parsed = json.loads(events) if isinstance(events, str) else (events or [])
        keys[webhook_id] = _key(url, list(parsed))
        by_key.setdefault(keys[webhook_id], []).append(webhook_id)
    dupes = [ids for ids in by_key.values() if len(ids) > 1]
    if dupes:
        names = "; ".join(", ".join(str(i) for i in ids) for ids in dupes[:20])
        raise RuntimeError(f"webhooks: more than one subscription for the same URL and event types (ids {names}); "
                           "delete the extra ones (an older Seawall let concurrent requests make them) and "
                           "upgrade again")
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
    for webhook_id, key in keys.items():
        bind.execute(sa.text("UPDATE webhooks SET dedupe_key = :k WHERE id = :i"), {"k": key, "i": webhook_id})
    with op.batch_alter_table("webhooks") as batch:
        batch.create_unique_constraint("uq_webhooks_dedupe_key", ["dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_constraint("uq_webhooks_dedupe_key", type_="unique")
        batch.drop_column("dedupe_key")
