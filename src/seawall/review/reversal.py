"""Undoing a decision whose appeal was upheld: restore the item, withdraw strikes, lift suspensions.

Only what the contested decision itself did is undone, read back from its stored action results:
the strike it gave is withdrawn (kept on record, marked), a suspension it imposed directly is
lifted, and a suspension its strike triggered is lifted only if the account's remaining active
strikes no longer reach that threshold, because other violations may still justify it. Everything
happens in the caller's transaction, with the events that tell the platform.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.accounts.service import AccountService
from seawall.models.records import Item
from seawall.store.tables import ActionRow

#: Actions that hid the item from other users: an upheld appeal shows it again.
HIDING_ACTIONS = ("remove", "block", "label")


def reverse(s: Session, accounts: AccountService, decision_id: int, item: Item, *,
            why: str) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Undo one stored decision's actions; returns a summary for the appeal record and the events to queue."""
    rows = s.scalars(select(ActionRow).where(ActionRow.decision_id == decision_id).order_by(ActionRow.id)).all()
    ref = {"item_id": item.id, "content_id": item.content_id, "account_id": item.account_id}
    events: list[tuple[str, dict[str, Any]]] = []
    summary: dict[str, Any] = {"item_restored": item.verdict.verdict in ("block", "label"),
                               "strikes_withdrawn": [], "suspensions_lifted": []}
    suspensions: list[tuple[int, str, bool]] = []  # (id, kind, imposed directly)
    for r in rows:
        if r.status != "done":
            continue
        if r.type in HIDING_ACTIONS:
            summary["item_restored"] = True
        elif r.type == "strike" and r.result.get("strike_id") is not None:
            withdrawn = accounts.withdraw_strike(s, int(r.result["strike_id"]), why=why)
            if withdrawn is not None:
                summary["strikes_withdrawn"].append(withdrawn["id"])
                events.append(("account.strike_withdrawn", {**ref, "strike": withdrawn}))
            if r.result.get("suspension"):
                suspensions.append((int(r.result["suspension"]["id"]), r.result["suspension"]["kind"], False))
        elif r.type == "suspend" and r.result.get("suspension"):
            suspensions.append((int(r.result["suspension"]["id"]), r.result["suspension"]["kind"], True))
    for suspension_id, kind, direct in suspensions:
        if not direct and item.account_id:
            threshold = accounts.policy.permanent_after if kind == "permanent" else accounts.policy.temporary_after
            if accounts.active_strikes(s, item.account_id) >= threshold:
                continue  # other active strikes still justify it
        lifted = accounts.lift_suspension(s, suspension_id, why=why)
        if lifted is not None:
            summary["suspensions_lifted"].append(lifted["id"])
            events.append(("account.unsuspended", {**ref, "suspension": lifted}))
    if summary["item_restored"]:
        events.insert(0, ("item.restored", ref))
    return summary, events
