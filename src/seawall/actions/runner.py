"""The act stage: store the decision with its reasons, carry out its actions, queue their events.

It runs inside the transaction that stores the item, so the item, its decision, every action's
effect (strikes, suspensions) and the outbox events commit together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.orm import Session

from seawall.accounts.service import AccountService
from seawall.actions.base import ActionContext, ActionResult, CaseOpener
from seawall.errors import InvalidInput
from seawall.models.records import ACTION_SEVERITY, Action, Item
from seawall.plugins import Registry
from seawall.rules.precedence import resolve
from seawall.store.tables import ActionRow, DecisionRow, ItemRow, utcnow
from seawall.webhooks.outbox import Outbox

DECISIONS: Table = DecisionRow.__table__  # type: ignore[assignment]
#: Built once: constructing and cache-keying the statement on every upload cost as much as running it.
_INSERT_DECISION = DECISIONS.insert().returning(DECISIONS.c.id)
#: The same without RETURNING, for decisions whose id nothing in the transaction needs (:meth:`ActionRunner.pooled`):
#: their rows are pooled by a group commit into one multi-row INSERT.
_POOLED_DECISION = DECISIONS.insert()


class ActionRunner:
    def __init__(self, registry: Registry, accounts: AccountService, outbox: Outbox,
                 cases: CaseOpener | None = None) -> None:
        self.registry = registry
        self.accounts = accounts
        self.outbox = outbox
        self.cases = cases

    def context(self, s: Session, item: Item, decision_id: int, content: bytes | None = None) -> ActionContext:
        """What an action may touch while it runs for this decision."""
        return ActionContext(session=s, item=item, decision_id=decision_id, accounts=self.accounts,
                             content=content, cases=self.cases)

    def pooled(self, item: Item, dialect: str) -> list[tuple[Any, dict[str, Any]]] | None:
        """What :meth:`record` writes for ``item``, as (statement, row) pairs a group commit pools with other
        uploads' (one statement per table for the whole group), or None when :meth:`record` must run.

        Why: a stored text item wrote its account row and its decision with one statement each; in a group
        of uploads those were most of the transaction's statements. Pooling is only possible when nothing
        needs the decision's id: no actions to carry out (their rows and effects refer to it) and nobody
        subscribed to ``item.verdict`` (its event carries it). The rows are the ones :meth:`record` would
        write, and, being ``first`` rows of the group commit, go in before anything of the transaction
        could read them; ``record`` would queue no event and no delivery for such an item either.
        """
        if item.status != "complete" or item.verdict.actions or "item.verdict" in self.outbox.subscribed:
            return None
        out: list[tuple[Any, dict[str, Any]]] = []
        if item.account_id:
            account = self.accounts.ensure_row(item.account_id, dialect)
            if account is None:
                return None
            out.append(account)
        verdict = item.verdict
        explanation = verdict.explanation or {}
        out.append((_POOLED_DECISION, {
            "item_id": item.id, "account_id": item.account_id, "verdict": verdict.verdict, "automated": True,
            "rule_set_version": int(explanation.get("rule_set_version", 0)),
            "fired": explanation.get("fired", []), "actions": [], "facts": explanation.get("facts", {}),
            "reasons": verdict.reasons, "created_at": utcnow(),
        }))
        return out

    def record(self, s: Session, item: Item, content: bytes | None = None) -> int:
        """Called with every stored item and, while it is decided, its upload's bytes (for a case to keep).

        Returns the number of webhook deliveries queued.
        """
        if item.account_id:
            self.accounts.ensure(s, item.account_id)
        if item.status != "complete":
            return 0
        verdict = item.verdict
        explanation = verdict.explanation or {}
        now = utcnow()
        # the table's Core INSERT (this runs for every upload): the ORM's bulk-insert layer cost as much again
        decision_id = int(s.execute(_INSERT_DECISION, {
            "item_id": item.id, "account_id": item.account_id, "verdict": verdict.verdict, "automated": True,
            "rule_set_version": int(explanation.get("rule_set_version", 0)),
            "fired": explanation.get("fired", []), "actions": [a.to_dict() for a in verdict.actions],
            "facts": explanation.get("facts", {}), "reasons": verdict.reasons, "created_at": now,
        }).scalar_one())
        ctx = self.context(s, item, decision_id, content)
        self._execute(s, ctx, verdict.actions)
        if "item.verdict" in self.outbox.subscribed:  # the outbox drops an event nobody listens to: not built
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
        ctx = self.context(s, item, decision_id)
        rows = self._execute(s, ctx, actions)
        queued = self.outbox.emit(s, [*ctx.events, *[(t, {**d, "decision_id": decision_id}) for t, d in events]])
        return decision_id, rows, queued

    def parse(self, specs: list[Any]) -> list[Action]:
        """Actions written as in a rule: a word (``remove``) or one ``{name: option}`` pair (``{"label": "…"}``)."""
        if not isinstance(specs, list) or not specs:
            raise InvalidInput("actions: give at least one action", code="invalid_field")
        out: list[Action] = []
        for spec in specs:
            if isinstance(spec, str):
                name, value = spec, None
            elif isinstance(spec, dict) and len(spec) == 1:
                name, value = next(iter(spec.items()))
            else:
                raise InvalidInput('actions: each is a word ("remove") or one {"name": option} pair',
                                   code="invalid_field")
            if name == "allow":
                raise InvalidInput("actions: allow is an upload-time outcome; a later decision takes actions",
                                   code="invalid_field")
            try:
                params = self.registry.action(name).parse_params(value)
            except ValueError as exc:
                raise InvalidInput(f"actions: {name}: {exc}", code="invalid_field") from None
            out.append(Action(name, params, None))
        return out

    def decide_later(self, s: Session, item: Item, actions: list[Action], *, decided_by: str,
                     note: str) -> dict[str, Any]:
        """Record a decision taken after upload and carry out its actions in this transaction.

        ``block`` becomes ``remove`` (the item is already published). The item's stored verdict takes
        the decision's verdict when it has one, so reading the item back shows where it stands now.
        """
        final, notes = resolve(actions, deferred=True)
        verdict = item.verdict.verdict
        strongest = max((self.registry.action(a.type).verdict or "allow" for a in final),
                        key=lambda v: ACTION_SEVERITY.get(v, 0), default="allow")
        if strongest != "allow":
            verdict = strongest
        reasons = [f"decided later by {decided_by}" + (f": {note}" if note else ""), *notes]
        if verdict != item.verdict.verdict:
            s.execute(update(ItemRow).where(ItemRow.id == item.id).values(verdict=verdict)
                      .execution_options(synchronize_session=False))
            item.verdict.verdict = verdict
        decision_id, _, queued = self.apply(s, item, final, verdict=verdict, reasons=reasons, facts={}, events=[])
        return {"decision_id": decision_id, "item_id": item.id, "verdict": verdict,
                "actions": [a.to_dict() for a in final], "reasons": reasons, "queued": queued}
