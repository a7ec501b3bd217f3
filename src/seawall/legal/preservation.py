"""TCO Art. 6: keep removed content and related data for six months (longer on request), then delete it.

Removal must never destroy the only copy: the vault copies the kept bytes and the item's related
records at removal time. Reading the vault is purpose-bound and audited; expiry deletes the bytes
and related data but keeps a tombstone (when it was kept, until when, when it was deleted) so the
transparency report and an auditor can see that the duty was met.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from seawall.errors import InvalidInput, NotFound
from seawall.legal.clock import as_utc
from seawall.review.audit import record
from seawall.store.tables import ActionRow, DecisionRow, ItemContentRow, ItemRow, MatchRow, PreservedContentRow
from seawall.store.write_lock import take_write_lock

#: Art. 6(3): why someone may read preserved content.
PURPOSES = ("administrative_review", "judicial_review", "complaint", "investigation")


def _related(s: Session, item_id: str) -> dict[str, Any]:
    item = s.get(ItemRow, item_id)
    if item is None:
        return {}
    matches = s.scalars(select(MatchRow).where(MatchRow.item_id == item_id)).all()
    decisions = s.scalars(select(DecisionRow).where(DecisionRow.item_id == item_id)).all()
    actions = s.scalars(select(ActionRow).where(ActionRow.item_id == item_id)).all()
    kept = s.get(ItemContentRow, item_id)
    return {
        "item": {"id": item.id, "content_id": item.content_id, "account_id": item.account_id,
                 "content_type": item.content_type, "received_at": as_utc(item.received_at).isoformat(),
                 "signals": item.signals, "verdict": item.verdict, "reasons": item.reasons},
        "matches": [{"bank": m.bank_name, "entry_id": m.entry_id, "signal_type": m.signal_type,
                     "distance": m.distance, "labels": m.labels} for m in matches],
        "decisions": [{"id": d.id, "verdict": d.verdict, "automated": d.automated, "reasons": d.reasons,
                       "created_at": as_utc(d.created_at).isoformat()} for d in decisions],
        "actions": [{"decision_id": a.decision_id, "type": a.type, "status": a.status} for a in actions],
        "context": kept.context if kept is not None else {},
    }


def preserve(s: Session, item_id: str, *, basis: str, now: datetime, days: int,
             order_id: int | None = None) -> dict[str, Any]:
    """Copy an item into the vault (or extend its stay); returns the vault record."""
    until = as_utc(now) + timedelta(days=days)
    row = s.scalar(select(PreservedContentRow).where(PreservedContentRow.item_id == item_id).with_for_update())
    if row is not None:
        if as_utc(row.preserve_until) < until and row.deleted_at is None:
            row.preserve_until = until
        return vault_dict(row)
    kept = s.get(ItemContentRow, item_id)
    row = PreservedContentRow(item_id=item_id, order_id=order_id, basis=basis,
                              media_type=kept.media_type if kept else None, data=kept.data if kept else None,
                              related=_related(s, item_id), preserved_at=as_utc(now), preserve_until=until,
                              extensions=[])
    s.add(row)
    s.flush()
    record(s, "system", "preservation.keep", "item", item_id, {"basis": basis, "order_id": order_id,
                                                               "until": until.isoformat()})
    return vault_dict(row)


def vault_dict(row: PreservedContentRow) -> dict[str, Any]:
    return {"item_id": row.item_id, "order_id": row.order_id, "basis": row.basis, "media_type": row.media_type,
            "has_content": row.data is not None, "preserved_at": as_utc(row.preserved_at).isoformat(),
            "preserve_until": as_utc(row.preserve_until).isoformat(), "extensions": row.extensions,
            "deleted_at": as_utc(row.deleted_at).isoformat() if row.deleted_at else None}


def extend(s: Session, item_id: str, *, until: datetime, requested_by: str, reason: str, actor: str,
           now: datetime) -> dict[str, Any]:
    """Art. 6(2): keep longer because an authority or court asked (for as long as review needs).

    The row is read under the write lock (see :mod:`seawall.store.write_lock`): copies of one request sent at
    once extend once, and two different requests both keep their record. A repeat of the extension that is
    already the newest (same end, same authority, same reason: a retry, a double click) is answered with the
    vault as it stands and ``extended: false``, recording and auditing nothing, as other repeats are answered
    with the row they made; a different request ending no later than the current period is refused.
    """
    take_write_lock(s)
    row = s.scalar(select(PreservedContentRow).where(PreservedContentRow.item_id == item_id).with_for_update())
    if row is None:
        raise NotFound(f"item {item_id!r} is not in the preservation vault", code="not_preserved")
    if row.deleted_at is not None:
        raise InvalidInput("the preserved content was already deleted at the end of its period",
                           code="preservation_expired")
    until = as_utc(until)
    if row.extensions and _same_extension(row.extensions[-1], until, requested_by, reason) \
            and until == as_utc(row.preserve_until):
        return {**vault_dict(row), "extended": False}
    if until <= as_utc(row.preserve_until):
        raise InvalidInput("until: an extension must end after the current preservation period",
                           code="invalid_field")
    if not requested_by.strip():
        raise InvalidInput("requested_by: name the authority or court that asked", code="invalid_field")
    row.extensions = [*row.extensions, {"until": until.isoformat(), "requested_by": requested_by[:300],
                                        "reason": reason[:2000], "at": as_utc(now).isoformat()}]
    row.preserve_until = until
    record(s, actor, "preservation.extend", "item", item_id, {"until": until.isoformat(),
                                                              "requested_by": requested_by[:300]})
    return {**vault_dict(row), "extended": True}


def _same_extension(stored: dict[str, Any], until: datetime, requested_by: str, reason: str) -> bool:
    """Whether a stored extension is the one now asked for again (compared as it was stored: cut to length)."""
    return (as_utc(datetime.fromisoformat(stored["until"])) == until and stored["requested_by"] == requested_by[:300]
            and stored["reason"] == reason[:2000])


def read(s: Session, item_id: str, *, actor: str, purpose: str) -> dict[str, Any]:
    """The preserved content for one of the Art. 6 purposes; every read is in the audit log."""
    if purpose not in PURPOSES:
        raise InvalidInput(f"purpose: one of {', '.join(PURPOSES)}", code="invalid_purpose")
    row = s.scalar(select(PreservedContentRow).where(PreservedContentRow.item_id == item_id))
    if row is None:
        raise NotFound(f"item {item_id!r} is not in the preservation vault", code="not_preserved")
    if row.deleted_at is not None:
        raise NotFound("the preserved content was deleted at the end of its period", code="preservation_expired")
    record(s, actor, "preservation.read", "item", item_id, {"purpose": purpose})
    return {**vault_dict(row), "data": row.data, "related": row.related}


def purge(s: Session, now: datetime) -> list[str]:
    """Delete what is past its period (bytes and related data); returns the item ids deleted."""
    rows = s.scalars(select(PreservedContentRow).where(PreservedContentRow.deleted_at.is_(None),
                                                       PreservedContentRow.preserve_until <= as_utc(now))).all()
    gone = [r.item_id for r in rows]
    if gone:
        s.execute(update(PreservedContentRow).where(PreservedContentRow.item_id.in_(gone))
                  .values(data=None, related={}, deleted_at=as_utc(now)))
        for item_id in gone:
            record(s, "system", "preservation.delete", "item", item_id, {})
    return gone
