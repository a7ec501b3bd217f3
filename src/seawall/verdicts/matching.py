"""Turns computed signals into matches: index search, then resolution against the store.

Resolution keeps the indexes simple and the answers correct: an index hit only counts if its entry
still exists in an enabled bank and is within that bank's own threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from seawall.index.manager import Candidate, IndexSet
from seawall.models.records import Bank, ComputedSignal, Match
from seawall.plugins import Registry
from seawall.store.convert import bank_from_row
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow, BankRow

#: An entry's own labels and every column of its bank, for the ids of index hits. A Core statement built once and
#: run on a bare connection: hit resolution is on the lookup path, and loading a mapped ``BankRow`` through a
#: session cost ~0.9 ms per lookup with a hit, about as much as the rest of the request.
_HIT_ROWS = (
    select(BankEntryRow.id.label("entry_id"), BankEntryRow.labels.label("entry_labels"),
           *[c for c in BankRow.__table__.c])
    .join(BankRow, BankRow.id == BankEntryRow.bank_id)
    .where(BankEntryRow.id.in_(bindparam("ids", expanding=True)))
)


#: Every column of the enabled banks, re-read at each index refresh (four times a second per server process).
_ENABLED_BANKS = select(*BankRow.__table__.c).where(BankRow.enabled)


@dataclass(slots=True)
class MatchOutcome:
    matches: list[Match]
    notes: list[str]


class Matcher:
    def __init__(self, db: Database, registry: Registry, indexes: IndexSet, *, min_quality: dict[str, int],
                 default_thresholds: dict[str, int]) -> None:
        self.db = db
        self.registry = registry
        self.indexes = indexes
        self.min_quality = min_quality
        self.default_thresholds = default_thresholds
        self._radius: dict[str, int] = {}

    def threshold_default(self, signal_type: str) -> int:
        sig = self.registry.signal(signal_type)
        return self.default_thresholds.get(signal_type, sig.default_threshold)

    def reload_banks(self) -> None:
        """Recompute the widest radius any enabled bank asks for, per signal type."""
        with self.db.engine.connect() as conn:
            banks = [bank_from_row(r) for r in conn.execute(_ENABLED_BANKS)]
        radius: dict[str, int] = {}
        for name, sig in self.registry.signal_types.items():
            if not sig.uses_distance:
                continue
            default = self.threshold_default(name)
            radius[name] = max([default] + [b.threshold_for(name, default) for b in banks])
        self._radius = radius

    def radius(self, signal_type: str) -> int:
        if signal_type not in self._radius:
            self.reload_banks()
        return self._radius.get(signal_type, self.threshold_default(signal_type))

    def floor(self, signal_type: str) -> int:
        """The quality below which a value of this signal type is neither matched nor banked."""
        return self.min_quality.get(signal_type, 0)

    def trustworthy(self, signal_type: str, quality: int | None) -> bool:
        """Whether a value with this quality (None: the signal reports none) is at or above its type's floor."""
        return quality is None or quality >= self.floor(signal_type)

    def match(self, signals: Sequence[ComputedSignal]) -> MatchOutcome:
        notes: list[str] = []
        hits: list[tuple[ComputedSignal, Candidate, list[str]]] = []
        for sig in signals:
            if not self.trustworthy(sig.type, sig.quality):
                notes.append(
                    f"{sig.type} quality {sig.quality} is below {self.floor(sig.type)}: the hash is not "
                    "trustworthy (near-uniform image) and was not matched"
                )
                continue
            values = [sig.value, *sig.variants]
            stype = self.registry.signal(sig.type)
            # a query that named its own forms (region guesses) reports those; otherwise the signal's names
            names = list(sig.names) or stype.query_variant_names(len(sig.variants))
            radius = self.radius(sig.type) if stype.uses_distance else 0
            for cand in self.indexes.search(sig.type, values, radius):
                hits.append((sig, cand, names))
        matches = self.resolve(hits)
        details = {c.entry_id: c.detail for _, c, _ in hits if c.detail}
        notes.extend(f"{m.signal_type} entry {m.entry_id} of bank {m.bank_name}: {details[m.entry_id]}"
                     for m in matches if m.entry_id in details)
        return MatchOutcome(matches, notes)

    def match_in_memory(self, signals: Sequence[ComputedSignal]) -> MatchOutcome | None:
        """:meth:`match` when it needs nothing from the store: no candidate in any index and every
        radius known. None otherwise (a candidate is resolved against its bank in the store), so a caller
        on an event loop can decide without waiting on the database and hand the rest to a thread."""
        for sig in signals:
            if not self.trustworthy(sig.type, sig.quality):
                return None  # rare (near-uniform images): the full path words the note
            stype = self.registry.signal(sig.type)
            if stype.uses_distance and sig.type not in self._radius:
                return None
            radius = self._radius[sig.type] if stype.uses_distance else 0
            if self.indexes.search(sig.type, [sig.value, *sig.variants], radius):
                return None
        return MatchOutcome([], [])

    def resolve(self, hits: list[tuple[ComputedSignal, Candidate, list[str]]]) -> list[Match]:
        """Keep hits whose entry exists in an enabled bank within its threshold; best distance per entry."""
        if not hits:
            return []
        ids = sorted({c.entry_id for _, c, _ in hits})
        with self.db.engine.connect() as conn:
            rows = conn.execute(_HIT_ROWS, {"ids": ids}).all()
        banks: dict[int, Bank] = {}
        details: dict[int, tuple[list[str], Bank]] = {}
        for r in rows:
            bank = banks.get(r.id)
            if bank is None:
                bank = banks[r.id] = bank_from_row(r)
            details[int(r.entry_id)] = (list(r.entry_labels or []), bank)
        best: dict[int, Match] = {}
        for sig, cand, names in hits:
            det = details.get(cand.entry_id)
            if det is None:
                continue
            labels, bank = det
            if not bank.enabled:
                continue
            if cand.distance > bank.threshold_for(sig.type, self.threshold_default(sig.type)):
                continue
            prev = best.get(cand.entry_id)
            if prev is not None and prev.distance <= cand.distance:
                continue
            best[cand.entry_id] = Match(
                bank_id=bank.id,
                bank_name=bank.name,
                bank_kind=bank.kind,
                entry_id=cand.entry_id,
                signal_type=sig.type,
                distance=cand.distance,
                labels=sorted(set(labels) | set(bank.labels)),
                action="allow" if bank.kind == "allow" else bank.default_action,
                variant=names[cand.query_index] if len(names) > 1 or names[0] != "original" else None,
            )
        return sorted(best.values(), key=lambda m: (m.distance, m.bank_name, m.entry_id))
