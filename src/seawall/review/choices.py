"""What a reviewer may do about a violating item, turned into the same actions the rules produce.

The console offers remove, a warning label with text, a strike and a suspension. Each choice is
parsed by the action's own ``parse_params``, so a reviewer's ``suspend: 7`` is checked exactly like
a rule's; the rule name recorded with it is ``review:<username>`` so account history says who did it.
"""

from __future__ import annotations

from seawall.errors import InvalidInput
from seawall.models.records import Action
from seawall.plugins import Registry

SUSPEND_CHOICES = ("", "default", "permanent")


def reviewer_actions(registry: Registry, username: str, *, remove: bool = False, label: str = "",
                     strike: bool = False, suspend: str = "") -> list[Action]:
    """Actions for a violating decision, in the order they run (take down first, then the account)."""
    rule = f"review:{username}"
    wanted: list[tuple[str, object]] = []
    if remove:
        wanted.append(("remove", None))
    if label.strip():
        if remove:
            raise InvalidInput("actions: an item is either removed or labelled, not both", code="invalid_actions")
        wanted.append(("label", label.strip()))
    if strike:
        wanted.append(("strike", None))
    suspend = suspend.strip()
    if suspend:
        if suspend == "permanent":
            wanted.append(("suspend", "permanent"))
        elif suspend == "default":
            wanted.append(("suspend", None))
        elif suspend.isdigit():
            wanted.append(("suspend", int(suspend)))
        else:
            raise InvalidInput("suspend: a number of days, 'default' or 'permanent'", code="invalid_actions")
    actions = []
    for name, value in wanted:
        try:
            params = registry.action(name).parse_params(value)
        except ValueError as exc:
            raise InvalidInput(f"{name}: {exc}", code="invalid_actions") from None
        actions.append(Action(name, params, rule))
    return actions
