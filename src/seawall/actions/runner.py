"""The act stage: store the decision with its reasons, carry out its actions, queue their events.

It runs inside the transaction that stores the item, so the item, its decision, every action's
effect (strikes, suspensions) and the outbox events commit together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from seawall.accounts.service import AccountService
from seawall.actions.base import ActionContext, ActionResult
from seawall.domain.models import Item
from seawall.plugins import Registry
from seawall.store.tables import ActionRow, DecisionRow, utcnow
from seawall.webhooks.outbox import Outbox


class ActionRunner:
    def __init__(self, registry: Registry, accounts: AccountService, outbox: Outbox) -> None:
        self.registry = registry
        self.accounts = accounts
        self.outbox = outbox

    def record(self, s: Session, item: Item) -> int:
        """Called with every stored item; returns the number of webhook deliveries queued."""
        if item.account_id:
            self.accounts.ensure(s, item.account_id)
        if item.status != "complete":
            return 0
        verdict = item.verdict
        explanation = verdict.explanation or {}
        now = utcnow()
        decision_id = int(s.execute(insert(DecisionRow).returning(DecisionRow.id), {
            "item_id": item.id, "account_id": item.account_id, "verdict": verdict.verdict, "automated": True,
            "rule_set_version": int(explanation.get("rule_set_version", 0)),
            "fired": explanation.get("fired", []), "actions": [a.to_dict() for a in verdict.actions],
            "facts": explanation.get("facts", {}), "reasons": verdict.reasons, "created_at": now,
        }).scalar_one())
        ctx = ActionContext(session=s, item=item, decision_id=decision_id, accounts=self.accounts)
        rows: list[dict[str, Any]] = []
        for action in verdict.actions:
            result = self.registry.action(action.type).execute(ctx, action) if action.type in \
                self.registry.action_types else ActionResult("skipped", {"why": "no such action is installed"})
            rows.append({"decision_id": decision_id, "item_id": item.id, "account_id": item.account_id,
                         "type": action.type, "params": action.params, "rule_id": action.rule,
                         "status": result.status, "result": result.detail, "created_at": now})
        if rows:
            s.execute(insert(ActionRow), rows)
        ctx.events.insert(0, ("item.verdict", {
            "item": {k: v for k, v in item.to_dict().items() if k != "signals"}, "decision_id": decision_id,
            "rule_set_version": explanation.get("rule_set_version", 0),
        }))
        return self.outbox.emit(s, ctx.events)
