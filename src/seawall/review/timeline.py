"""An account's story in one list: what it posted, what Seawall and reviewers decided, strikes,
suspensions, reports about its items and its appeals, newest first.

A reviewer judging one post needs to know whether this is the account's first brush with the rules or
its fifth; the account history the API serves is grouped by kind, this interleaves it by time and
links every item to the case where it was (or is being) decided.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from seawall.store.tables import CaseRow, ItemRow, ReportRow

if TYPE_CHECKING:
    from seawall.accounts import AccountService
    from seawall.store.db import Database

LIMIT = 200


def account_timeline(db: Database, accounts: AccountService, account_id: str, *, limit: int = LIMIT) -> dict[str, Any]:
    """``{"account": history, "events": [{"at", "kind", "text", "item_id", "case_id"}…]}``; 404 if unknown."""
    history = accounts.history(account_id, limit=limit)
    item_ids = [i["id"] for i in history["items"]]
    with db.session() as s:
        cases: dict[str, int] = {}
        if item_ids:
            for item_id, case_id in s.execute(select(CaseRow.item_id, CaseRow.id)
                                              .where(CaseRow.item_id.in_(item_ids)).order_by(CaseRow.id)):
                cases[item_id] = case_id  # the newest case of each item wins
        reports = s.execute(select(ReportRow.created_at, ReportRow.category, ReportRow.item_id, ReportRow.case_id,
                                   ItemRow.content_id)
                            .join(ItemRow, ItemRow.id == ReportRow.item_id)
                            .where(ItemRow.account_id == account_id)
                            .order_by(ReportRow.id.desc()).limit(limit)).all()
    contents = {i["id"]: i["content_id"] for i in history["items"]}
    events: list[dict[str, Any]] = []
    for i in history["items"]:
        events.append({"at": i["received_at"], "kind": "item", "item_id": i["id"], "case_id": cases.get(i["id"]),
                       "text": f"posted {i['content_id']} ({i['content_type']})"})
        if i["verdict"]:
            acts = ", ".join(a["type"] for a in i["actions"]) or "no action"
            events.append({"at": i["received_at"], "kind": "verdict", "item_id": i["id"],
                           "case_id": cases.get(i["id"]), "text": f"{i['content_id']}: {i['verdict']} · {acts}"})
    for st in history["strikes"]:
        events.append({"at": st["created_at"], "kind": "strike", "item_id": st["item_id"],
                       "case_id": cases.get(st["item_id"] or ""),
                       "text": f"strike: {st['reason']}" + ("" if st["active"] else " (ended)")})
    for su in history["suspensions"]:
        events.append({"at": su["starts_at"], "kind": "suspension", "item_id": su["item_id"],
                       "case_id": cases.get(su["item_id"] or ""),
                       "text": f"{su['kind']} suspension" + (f" until {su['ends_at'][:16]}" if su["ends_at"] else "")
                       + (" · lifted" if su["lifted_at"] else "")})
    for created, category, item_id, case_id, content_id in reports:
        events.append({"at": created.isoformat(), "kind": "report", "item_id": item_id, "case_id": case_id,
                       "text": f"user report of {content_id}: {category}"})
    for ap in history["appeals"]:
        events.append({"at": ap["created_at"], "kind": "appeal", "item_id": ap["item_id"], "case_id": ap["case_id"],
                       "text": f"appeal about {contents.get(ap['item_id'] or '', 'an item')}: {ap['status']}"
                       + (f" · {ap['outcome']}" if ap["outcome"] else "")})
    events.sort(key=lambda e: str(e["at"] or ""), reverse=True)
    return {"account": history, "events": events[:limit]}
