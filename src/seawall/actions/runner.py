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
from seawall.domain.models import Action, Item
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
        self._execute(s, ctx, verdict.actions)
        ctx.events.insert(0, ("item.verdict", {
            "item": {k: v for k, v in item.to_dict().items() if k != "signals"}, "decision_id": decision_id,
            "rule_set_version": explanation.get("rule_set_version", 0),
        }))
        return self.outbox.emit(s, ctx.events)

    def _execute(self, s: Session, ctx: ActionContext, actions: list[Action]) -> list[dict[str, Any]]:
        """Carry out actions in order and store each one's result; returns the stored action rows."""
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for action in actions:
            result = self.registry.action(action.type).execute(ctx, action) if action.type in \
                self.registry.action_types else ActionResult("skipped", {"why": "no such action is installed"})
            rows.append({"decision_id": ctx.decision_id, "item_id": ctx.item.id, "account_id": ctx.item.account_id,
                         "type": action.type, "params": action.params, "rule_id": action.rule,
                         "status": result.status, "result": result.detail, "created_at": now})
        if rows:
            s.execute(insert(ActionRow), rows)
        return rows

    def apply(self, s: Session, item: Item, actions: list[Action], *, verdict: str, reasons: list[str],
              facts: dict[str, Any],
              events: list[tuple[str, dict[str, Any]]]) -> tuple[int, list[dict[str, Any]], int]:
        """A person's decision about a stored item, acted on exactly like an automated one.

        Reviewer decisions go through the same executors as rules do, so a reviewer's strike counts
        towards the same thresholds and announces the same events; the decision is stored with
        ``automated = false``. ``events`` (e.g. ``case.decided``) are queued after the actions' own,
        all in the caller's transaction. Returns the decision id, the stored action rows and the
        number of webhook deliveries queued.
        """
        if item.account_id:
            self.accounts.ensure(s, item.account_id)
        decision_id = int(s.execute(insert(DecisionRow).returning(DecisionRow.id), {
            "item_id": item.id, "account_id": item.account_id, "verdict": verdict, "automated": False,
            "rule_set_version": 0, "fired": [], "actions": [a.to_dict() for a in actions], "facts": facts,
            "reasons": reasons, "created_at": utcnow(),
        }).scalar_one())
        ctx = ActionContext(session=s, item=item, decision_id=decision_id, accounts=self.accounts)
        rows = self._execute(s, ctx, actions)
        queued = self.outbox.emit(s, [*ctx.events, *[(t, {**d, "decision_id": decision_id}) for t, d in events]])
        return decision_id, rows, queued
