"""``block``: the platform rejects the upload; the ``item.verdict`` event and response say so."""

from seawall.actions.base import ActionExecutor


class BlockAction(ActionExecutor):
    name = "block"
    verdict = "block"
    description = "Reject the upload before it is published."
