"""Where bank entries came from: every source that reported an entry, first and last seen.

Read when a decision is made (rules may ask ``source`` and ``min_sources``) and when a reviewer
looks at a case, so both see the same picture of who vouches for a hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.rules.facts import MatchFact
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import BankEntrySourceRow, SourceRow


def provenance(db: Database, entry_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Entry id → the sources that reported it (name, kind, trusted, remote id, first/last seen)."""
    ids = sorted({int(i) for i in entry_ids})
    if not ids:
        return {}
    with db.session() as s:
        return provenance_in(s, ids)


def provenance_in(s: Session, entry_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """:func:`provenance` in the caller's transaction (the case page reads everything in one)."""
    ids = sorted({int(i) for i in entry_ids})
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    rows = s.execute(
        select(BankEntrySourceRow, SourceRow.name, SourceRow.kind, SourceRow.trusted)
        .join(SourceRow, SourceRow.id == BankEntrySourceRow.source_id)
        .where(BankEntrySourceRow.entry_id.in_(ids))
        .order_by(BankEntrySourceRow.first_seen)
    ).all()
    for prov, name, kind, trusted in rows:
        out.setdefault(int(prov.entry_id), []).append({
            "source": name, "kind": kind, "trusted": bool(trusted), "remote_id": prov.remote_id,
            "labels": list(prov.labels or []), "first_seen": _iso(prov.first_seen), "last_seen": _iso(prov.last_seen),
        })
    return out


def _iso(value: Any) -> str | None:
    dt = aware(value)
    return dt.isoformat() if dt else None


def with_provenance(db: Database, facts: list[MatchFact]) -> list[MatchFact]:
    """Fill ``sources`` and ``source_count`` of match facts (one query for all of them)."""
    ids = [f.entry_id for f in facts if f.entry_id is not None]
    if not ids:
        return facts
    found = provenance(db, ids)
    for f in facts:
        names = [p["source"] for p in found.get(int(f.entry_id or 0), [])]
        f.sources = names
        f.source_count = len(names)
    return facts
