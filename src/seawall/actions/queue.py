"""``queue: priority``: hold for human review at a priority (low, normal, high, urgent)."""

from __future__ import annotations

from typing import Any

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.models.records import Action

PRIORITIES = ("low", "normal", "high", "urgent")


class QueueAction(ActionExecutor):
    name = "queue"
    verdict = "review"
    description = "Hold for human review; option: priority low, normal (default), high or urgent."

    def parse_params(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {"priority": "normal"}
        if value not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {value!r}")
        return {"priority": value}

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        """Open the review case in the decision's transaction, keeping the upload's bytes for the reviewer."""
        case_id = ctx.open_case(source=self.name, reason=f"rule {action.rule or '-'}",
                                tier=action.params.get("priority", "normal"))
        return ActionResult(detail={"case_id": case_id})
