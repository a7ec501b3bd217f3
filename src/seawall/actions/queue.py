"""``queue: priority``: hold for human review at a priority (low, normal, high, urgent)."""

from __future__ import annotations

from typing import Any

from seawall.actions.base import ActionExecutor

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
