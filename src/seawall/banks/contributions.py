"""Entries a partner pushes to a publisher's feed, landing in the feed's review-only bank.

A partner's entries are not vetted by this instance, so they never block on their own: the feed
names a bank whose matches go to review (checked when the feed is created), each entry records the
partner it came from in its ``source``, and a malformed entry is rejected with its position while
the others apply. Identical entries are stored once (the bank's unique key), so a retried push adds
nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seawall.banks.service import BankEntry, EntryInput
from seawall.errors import InvalidInput, SeawallError
from seawall.sharing.feeds import Partner

MAX_ENTRIES = 1000
#: Adds one entry to a bank and makes it matchable (``Engine.add_entry``); answers (entry, created).
AddEntry = Callable[..., tuple[BankEntry, bool]]


def contribution_source(partner: Partner) -> str:
    """The ``source`` a contributed entry carries: which feed and partner pushed it."""
    return f"partner:{partner.feed}/{partner.name}"


def accept_contributions(add_entry: AddEntry, bank: str, partner: Partner, body: Any) -> dict[str, Any]:
    """Add ``body["entries"]`` to ``bank``; answers the counts and each rejected entry's position."""
    if not isinstance(body, dict) or not isinstance(body.get("entries"), list):
        raise InvalidInput('send {"entries": [{"signal_type", "value", "labels"}]}', code="invalid_body")
    entries: list[Any] = body["entries"]
    if not 1 <= len(entries) <= MAX_ENTRIES:
        raise InvalidInput(f"entries: from 1 to {MAX_ENTRIES} per call", code="invalid_body")
    added = existing = 0
    rejected: list[dict[str, Any]] = []
    for i, e in enumerate(entries):
        if (not isinstance(e, dict) or not isinstance(e.get("signal_type"), str)
                or not isinstance(e.get("value"), str) or not isinstance(e.get("labels", []), list)):
            rejected.append({"position": i, "reason": "needs signal_type and value (strings), labels (a list)"})
            continue
        try:
            _, made = add_entry(bank, EntryInput(e["signal_type"], e["value"],
                                                       [str(x) for x in e.get("labels") or []],
                                                       source=contribution_source(partner)),
                                      added_by=contribution_source(partner))
        except InvalidInput as exc:
            rejected.append({"position": i, "reason": exc.message})
            continue
        except SeawallError:
            raise
        added, existing = added + int(made), existing + int(not made)
    return {"bank": bank, "added": added, "existing": existing, "rejected": rejected}
