"""Reading back stored decisions, so any automated outcome can be explained to the user or a regulator."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from seawall.errors import NotFound
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import ActionRow, DecisionRow, ItemRow


def decisions_for(db: Database, item_id: str) -> list[dict[str, Any]]:
    """Every decision about an item, oldest first: rules fired and why, facts seen, actions and their results."""
    with db.session() as s:
        if s.get(ItemRow, item_id) is None:
            raise NotFound(f"no item {item_id!r}", code="item_not_found")
        decisions = s.scalars(select(DecisionRow).where(DecisionRow.item_id == item_id).order_by(DecisionRow.id)).all()
        results: dict[int, list[dict[str, Any]]] = {}
        for a in s.scalars(select(ActionRow).where(ActionRow.item_id == item_id).order_by(ActionRow.id)):
            results.setdefault(a.decision_id, []).append(
                {"type": a.type, **a.params, "rule": a.rule_id, "status": a.status, "result": a.result})
        out = []
        for d in decisions:
            created = aware(d.created_at)
            out.append({"id": d.id, "item_id": d.item_id, "account_id": d.account_id, "verdict": d.verdict,
                        "automated": d.automated, "rule_set_version": d.rule_set_version, "fired": d.fired,
                        "actions": results.get(d.id, []), "facts": d.facts, "reasons": d.reasons,
                        "created_at": created.isoformat() if created else None})
    return out
