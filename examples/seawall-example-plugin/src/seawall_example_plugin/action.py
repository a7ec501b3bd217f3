"""``notify_partner``: tell a partner platform about an item, through a webhook event of its own.

The action does no network call itself: it emits ``example.partner_notified`` in the decision's
transaction, and Seawall's outbox delivers it (signed, retried) to every webhook subscribed to it.
"""

from __future__ import annotations

from typing import Any

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.models.records import Action

EVENT_TYPE = "example.partner_notified"


class NotifyPartnerAction(ActionExecutor):
    name = "notify_partner"
    verdict = None  # it does not change what the platform shows
    description = "Tell a partner platform about the item (example plugin): emits example.partner_notified."

    def parse_params(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) != {"partner"} or not isinstance(value["partner"], str) \
                or not value["partner"].strip():
            raise ValueError("write it as {partner: <name>}")
        return {"partner": value["partner"].strip()}

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        partner = str(action.params["partner"])
        ctx.emit(EVENT_TYPE, {**ctx.item_ref(), "partner": partner, "decision_id": ctx.decision_id})
        return ActionResult("done", {"partner": partner})
