"""``remove``: take down something already published, announced by an ``item.removed`` event."""

from __future__ import annotations

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.models.records import Action


class RemoveAction(ActionExecutor):
    name = "remove"
    verdict = "block"
    description = "Take down an item that is already published (item.removed event)."

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        ctx.emit("item.removed", {**ctx.item_ref(), "rule": action.rule, "decision_id": ctx.decision_id,
                                  "reasons": ctx.item.verdict.reasons})
        return ActionResult()
