"""How actions proposed by several rules combine into what is done. This is the documented precedence.

Every rule that fires proposes actions; conflicts are settled here, in one place, the same way every
time, and each dropped proposal leaves a note saying why:

1. ``allow`` overrides everything: an allow-bank match or an explicit allow rule is a known false
   positive, so no enforcement action at all is taken.
2. On an item decided after it was accepted (background processing) ``block`` is no longer possible
   and becomes ``remove``.
3. ``block`` makes ``remove`` and ``label`` moot (the upload is never published); ``remove`` makes
   ``label`` moot.
4. Of several ``label`` actions the first rule's text is shown.
5. ``escalate`` implies ``queue`` at priority ``urgent``; of several ``queue`` actions the highest
   priority wins.
6. ``strike`` is given at most once per item; of several ``suspend`` actions the longest wins
   (``permanent`` beats any number of days).
7. Any other (plugin) action runs once per distinct set of options.

Final actions run in a fixed order: block, remove, label, queue, escalate, strike, suspend, then
plugin actions in rule order.
"""

from __future__ import annotations

from seawall.models.records import Action

ORDER = ("allow", "block", "remove", "label", "queue", "escalate", "strike", "suspend")
PRIORITIES = ("low", "normal", "high", "urgent")


def _suspend_length(a: Action) -> float:
    return float("inf") if a.params.get("duration") == "permanent" else float(a.params.get("days", 0))


def resolve(proposed: list[Action], *, deferred: bool = False) -> tuple[list[Action], list[str]]:
    """The actions to carry out, and a note for every proposal that was dropped or changed."""
    notes: list[str] = []
    allow = [a for a in proposed if a.type == "allow"]
    if allow:
        others = [a for a in proposed if a.type != "allow"]
        if others:
            dropped = ", ".join(f"{a.type} (rule {a.rule})" for a in others)
            notes.append(f"allow (rule {allow[0].rule}) overrides {dropped}")
        return [allow[0]], notes
    acts = list(proposed)
    if deferred:
        converted = []
        for a in acts:
            if a.type == "block":
                notes.append(f"block (rule {a.rule}) becomes remove: the item was decided after it was accepted")
                a = Action("remove", dict(a.params), a.rule)
            converted.append(a)
        acts = converted
    by_type: dict[str, list[Action]] = {}
    for a in acts:
        by_type.setdefault(a.type, []).append(a)

    def drop(kind: str, because: str) -> None:
        for a in by_type.pop(kind, []):
            notes.append(f"{kind} (rule {a.rule}) dropped: {because}")

    if "block" in by_type:
        drop("remove", "the upload is blocked, so it is never published")
        drop("label", "the upload is blocked, so there is nothing to label")
    elif "remove" in by_type:
        drop("label", "the item is removed, so there is nothing to label")
    final: list[Action] = []
    for kind in ("block", "remove", "label"):
        if kind in by_type:
            final.append(by_type[kind][0])
    queues = by_type.get("queue", [])
    escalations = by_type.get("escalate", [])
    if escalations:
        queues = [*queues, Action("queue", {"priority": "urgent"}, escalations[0].rule)]
    if queues:
        final.append(max(queues, key=lambda a: PRIORITIES.index(a.params.get("priority", "normal"))))
    if escalations:
        final.append(escalations[0])
    if "strike" in by_type:
        final.append(by_type["strike"][0])
    if "suspend" in by_type:
        final.append(max(by_type["suspend"], key=_suspend_length))
    seen: set[tuple[str, str]] = set()
    for a in acts:
        if a.type in ORDER:
            continue
        key = (a.type, repr(sorted(a.params.items())))
        if key not in seen:
            seen.add(key)
            final.append(a)
    return final, notes
