"""``escalate``: an imminent threat. Urgent review by a senior reviewer and an ``item.escalated`` alert now."""

from __future__ import annotations

from typing import Any

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.models.records import Action


class EscalateAction(ActionExecutor):
    name = "escalate"
    verdict = "review"
    description = "Imminent threat: urgent senior review queue and an item.escalated alert; optional note."

    def parse_params(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, str) or len(value) > 500:
            raise ValueError("the option is a note of at most 500 characters")
        return {"note": value}

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        labels = sorted({lb for m in ctx.item.verdict.matches for lb in m.labels})
        ctx.emit("item.escalated", {**ctx.item_ref(), "rule": action.rule, "decision_id": ctx.decision_id,
                                    "note": action.params.get("note"), "labels": labels,
                                    "reasons": ctx.item.verdict.reasons})
        note = action.params.get("note")
        case_id = ctx.open_case(source=self.name,
                                reason=f"escalated by rule {action.rule or '-'}" + (f": {note}" if note else ""),
                                tier="urgent", queue="senior")
        return ActionResult(detail={"case_id": case_id})
