"""``allow``: publish as is. Overrides every other action (see rules.precedence)."""

from seawall.actions.base import ActionExecutor


class AllowAction(ActionExecutor):
    name = "allow"
    verdict = "allow"
    description = "Publish as is; overrides every other action (known false positive)."
