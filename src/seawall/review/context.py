"""What a reviewer needs beside the media: the bank entries it matched, the account, related items.

Gathered in one place so the case page stays a template: the matched entries with their labels,
bank, source and distance (and the entry's own thumbnail when a reviewer decision created it), the
account's strikes and suspensions, other items that matched the same entries (the same or nearly
the same material), and the account's other items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.errors import NotFound
from seawall.models.records import Item
from seawall.review.wording import added_by
from seawall.store.tables import ApiKeyRow, BankEntryMediaRow, BankEntryRow, BankRow, ItemRow, MatchRow

if TYPE_CHECKING:
    from seawall.accounts.service import AccountService
    from seawall.store.db import Database

RELATED_LIMIT = 20


def case_context(db: Database, accounts: AccountService, item: Item) -> dict[str, Any]:
    """The matched entries, related items and the account of ``item``, in a transaction of its own."""
    with db.session() as s:
        return case_context_in(s, accounts, item)


def case_context_in(s: Session, accounts: AccountService, item: Item) -> dict[str, Any]:
    """:func:`case_context` in the caller's transaction (the case page reads everything in one)."""
    entry_ids = sorted({m.entry_id for m in item.verdict.matches})
    entries: list[dict[str, Any]] = []
    related: list[dict[str, Any]] = []
    if entry_ids:
        rows = {e.id: (e, bank) for e, bank in s.execute(
            select(BankEntryRow, BankRow).join(BankRow, BankRow.id == BankEntryRow.bank_id)
            .where(BankEntryRow.id.in_(entry_ids)))}
        key_names = {k: n for k, n in s.execute(select(ApiKeyRow.key_id, ApiKeyRow.name))}
        thumbs = set(s.scalars(select(BankEntryMediaRow.entry_id).where(BankEntryMediaRow.entry_id.in_(entry_ids))))
        seen: set[int] = set()
        for m in sorted(item.verdict.matches, key=lambda m: m.distance):
            if m.entry_id in seen:
                continue
            seen.add(m.entry_id)
            found = rows.get(m.entry_id)
            entry, bank = found if found else (None, None)
            # an entry's own labels, then its bank's: a bank-wide label is as much the entry's as its own
            labels = [*(entry.labels if entry else m.labels), *(bank.labels if bank else [])]
            entries.append({
                "entry_id": m.entry_id, "bank": bank.name if bank else m.bank_name, "bank_kind": m.bank_kind,
                "signal_type": m.signal_type, "distance": m.distance, "variant": m.variant,
                "labels": list(dict.fromkeys(labels)),
                "source": entry.source if entry else "(entry deleted since)",
                "added_by": added_by(entry.added_by, key_names) if entry and entry.added_by else "",
                "added_at": entry.created_at if entry else None,
                "first_seen": entry.first_seen if entry else None,
                "note": entry.note if entry else "", "value": entry.value if entry else "",
                "thumbnail": m.entry_id in thumbs})
        related = [{"id": r.id, "content_id": r.content_id, "account_id": r.account_id, "verdict": r.verdict,
                    "received_at": r.received_at}
                   for r in s.execute(
                       select(ItemRow.id, ItemRow.content_id, ItemRow.account_id, ItemRow.verdict,
                              ItemRow.received_at)
                       .where(ItemRow.id.in_(select(MatchRow.item_id).where(MatchRow.entry_id.in_(entry_ids))),
                              ItemRow.id != item.id)
                       .order_by(ItemRow.received_at.desc()).limit(RELATED_LIMIT))]
    account = None
    if item.account_id:
        try:
            account = accounts.history_in(s, item.account_id, limit=RELATED_LIMIT)
        except NotFound:
            account = None
    same_account = [i for i in (account or {}).get("items", []) if i["id"] != item.id]
    return {"entries": entries, "related": related, "account": account, "same_account": same_account}


def entry_thumbnail(db: Database, entry_id: int) -> tuple[str, bytes] | None:
    """The media type and bytes of the thumbnail a reviewer decision stored with a bank entry, if any."""
    with db.session() as s:
        row = s.get(BankEntryMediaRow, entry_id)
        return (row.media_type, row.data) if row is not None else None
