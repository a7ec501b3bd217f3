"""``suspend``: suspend the uploader's account (``suspend: 7`` days, ``suspend: permanent``, bare = default)."""

from __future__ import annotations

from typing import Any

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.models.records import Action


class SuspendAction(ActionExecutor):
    name = "suspend"
    description = "Suspend the uploader's account: a number of days, permanent, or the configured default."

    def parse_params(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if value == "permanent":
            return {"duration": "permanent"}
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 36500:
            raise ValueError("the option is a number of days (e.g. suspend: 7) or 'permanent'")
        return {"days": value}

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        account = ctx.item.account_id
        if not account:
            return ActionResult("skipped", {"why": "the item has no account_id"})
        suspension = ctx.accounts.suspend(
            ctx.session, account, permanent=action.params.get("duration") == "permanent",
            days=action.params.get("days"), item_id=ctx.item.id, rule_id=action.rule,
            reason=f"item {ctx.item.content_id} ({ctx.item.id}): rule {action.rule}",
        )
        if suspension is None:
            return ActionResult("skipped", {"why": "an equal or longer suspension is already running"})
        ctx.emit("account.suspended", {"account_id": account, "suspension": suspension,
                                       "decision_id": ctx.decision_id})
        return ActionResult("done", {"suspension": suspension})
