"""``label: "text"``: publish behind a warning interstitial showing the text, announced by ``item.labelled``."""

from __future__ import annotations

from typing import Any

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.models.records import Action

MAX_LABEL_CHARS = 500


class LabelAction(ActionExecutor):
    name = "label"
    verdict = "label"
    description = "Publish behind a warning interstitial with the given text."

    def parse_params(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, str) or not value.strip():
            raise ValueError('needs the warning text, e.g. label: "This content may be disturbing."')
        if len(value) > MAX_LABEL_CHARS:
            raise ValueError(f"text is longer than {MAX_LABEL_CHARS} characters")
        return {"text": value.strip()}

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        """Announce the label with its text, so a platform that acts on events (not on the verdict) can show it."""
        ctx.emit("item.labelled", {**ctx.item_ref(), "text": action.params.get("text", ""), "rule": action.rule,
                                   "decision_id": ctx.decision_id})
        return ActionResult()
