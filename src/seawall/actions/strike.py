"""``strike``: count against the uploader's account; enough active strikes suspend it."""

from __future__ import annotations

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.models.records import Action


class StrikeAction(ActionExecutor):
    name = "strike"
    description = "Give the uploader's account a strike (they expire); thresholds suspend the account."

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        account = ctx.item.account_id
        if not account:
            return ActionResult("skipped", {"why": "the item has no account_id"})
        reason = f"item {ctx.item.content_id} ({ctx.item.id}): rule {action.rule}"
        outcome = ctx.accounts.add_strike(ctx.session, account, item_id=ctx.item.id, rule_id=action.rule,
                                          reason=reason)
        if outcome.repeated:  # this item already counted against the account: no new strike, nothing to announce
            return ActionResult("done", {"strike_id": outcome.strike["id"], "active_strikes": outcome.active_strikes,
                                         "already_given": True})
        ctx.emit("account.strike", {"account_id": account, "strike": outcome.strike,
                                    "active_strikes": outcome.active_strikes, "decision_id": ctx.decision_id})
        detail = {"strike_id": outcome.strike["id"], "active_strikes": outcome.active_strikes}
        if outcome.suspension is not None:
            ctx.emit("account.suspended", {"account_id": account, "suspension": outcome.suspension,
                                           "decision_id": ctx.decision_id})
            detail["suspension"] = outcome.suspension
        return ActionResult("done", detail)
