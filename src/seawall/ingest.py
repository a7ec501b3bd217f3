"""Upload → signals → matches → verdict → stored item, the path every platform upload takes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from seawall.domain.models import CONTENT_TYPES, ComputedSignal, Item, Match, Verdict
from seawall.errors import InvalidInput, NotFound
from seawall.matching import Matcher
from seawall.media.content import Content
from seawall.plugins import Registry
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import ItemRow, MatchRow, utcnow
from seawall.verdicts import decide

MAX_ID_LENGTH = 300


def compute_signals(registry: Registry, content: Content, *, for_query: bool) -> list[ComputedSignal]:
    """Every registered signal that applies to the content type; decoding errors propagate as 4xx."""
    out: list[ComputedSignal] = []
    for sig in registry.signal_types.values():
        if sig.applies_to(content.content_type):
            out.extend(sig.compute(content, for_query=for_query))
    return out


def _check_id(value: str | None, field: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field}: is required", code="missing_field")
        return None
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{field}: at most {MAX_ID_LENGTH} characters", code="invalid_field")
    return value


class ItemService:
    def __init__(self, db: Database, registry: Registry, matcher: Matcher) -> None:
        self.db = db
        self.registry = registry
        self.matcher = matcher

    def submit(self, content: Content, *, content_id: str, account_id: str | None,
               submitted_by: str | None) -> Item:
        cid = _check_id(content_id, "content_id", required=True)
        aid = _check_id(account_id, "account_id", required=False)
        assert cid is not None
        if content.content_type not in CONTENT_TYPES:
            raise InvalidInput(
                f"content_type: must be one of {', '.join(CONTENT_TYPES)}", code="invalid_content_type"
            )
        signals = compute_signals(self.registry, content, for_query=True)
        outcome = self.matcher.match(signals)
        verdict = decide(outcome.matches, outcome.notes)
        item = Item(
            id=uuid.uuid4().hex,
            content_id=cid,
            account_id=aid,
            content_type=content.content_type,
            received_at=utcnow(),
            signals=[ComputedSignal(s.type, s.value, s.quality) for s in signals],
            verdict=verdict,
            size_bytes=len(content.raw_bytes),
            submitted_by=submitted_by,
        )
        self._store(item)
        return item

    def _store(self, item: Item) -> None:
        with self.db.session() as s:
            s.add(ItemRow(
                id=item.id, content_id=item.content_id, account_id=item.account_id,
                content_type=item.content_type, received_at=item.received_at, size_bytes=item.size_bytes,
                signals=[sig.to_dict() for sig in item.signals], verdict=item.verdict.verdict,
                reasons=item.verdict.reasons, submitted_by=item.submitted_by,
            ))
            s.flush()
            for m in item.verdict.matches:
                s.add(MatchRow(
                    item_id=item.id, bank_id=m.bank_id, bank_name=m.bank_name, bank_kind=m.bank_kind,
                    entry_id=m.entry_id, signal_type=m.signal_type, distance=m.distance, labels=m.labels,
                    action=m.action, variant=m.variant,
                ))

    def get(self, item_id: str) -> Item:
        with self.db.session() as s:
            row = s.get(ItemRow, item_id)
            if row is None:
                raise NotFound(f"no item {item_id!r}", code="item_not_found")
            match_rows: Sequence[MatchRow] = s.scalars(
                select(MatchRow).where(MatchRow.item_id == item_id).order_by(MatchRow.id)
            ).all()
        matches = [
            Match(bank_id=m.bank_id, bank_name=m.bank_name, bank_kind=m.bank_kind, entry_id=m.entry_id,
                  signal_type=m.signal_type, distance=m.distance, labels=list(m.labels), action=m.action,
                  variant=m.variant)
            for m in match_rows
        ]
        return Item(
            id=row.id,
            content_id=row.content_id,
            account_id=row.account_id,
            content_type=row.content_type,
            received_at=aware(row.received_at) or utcnow(),
            signals=[ComputedSignal(d["type"], d["value"], d.get("quality")) for d in row.signals],
            verdict=Verdict(row.verdict, matches, list(row.reasons)),
            size_bytes=row.size_bytes,
            submitted_by=row.submitted_by,
        )
