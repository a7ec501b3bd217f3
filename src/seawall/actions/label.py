"""``label: "text"``: publish behind a warning interstitial showing the text."""

from __future__ import annotations

from typing import Any

from seawall.actions.base import ActionExecutor

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
