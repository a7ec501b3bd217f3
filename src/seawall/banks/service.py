"""Bank and bank-entry operations. Every write is one transaction and refreshes the local indexes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from seawall.errors import Conflict, InvalidInput, NotFound
from seawall.models.labels import validate_labels
from seawall.models.records import ACTIONS, BANK_KINDS, Bank, BankEntry
from seawall.plugins import Registry
from seawall.store.bank_list import forget_banks
from seawall.store.convert import bank_from_row, entry_from_row
from seawall.store.db import Database
from seawall.store.json_lists import escape_like, json_holds_string
from seawall.store.tables import BankEntryRow, BankRow, utcnow, value_digest
from seawall.store.upsert import insert_unless_exists

_BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(slots=True)
class EntryInput:
    signal_type: str
    value: str
    labels: list[str]
    source: str = ""
    first_seen: datetime | None = None
    note: str = ""
    meta: dict[str, Any] | None = None


def validate_bank_name(name: str) -> str:
    if not isinstance(name, str) or not _BANK_NAME.match(name):
        raise InvalidInput(
            "name: a bank name is 1–100 characters of letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            code="invalid_bank_name",
        )
    return name


class BankService:
    def __init__(self, db: Database, registry: Registry) -> None:
        self.db = db
        self.registry = registry

    # --- banks -------------------------------------------------------------------------------
    def _validate_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = dict(fields)
        if "kind" in out and out["kind"] not in BANK_KINDS:
            raise InvalidInput(f"kind: must be one of {', '.join(BANK_KINDS)}", code="invalid_bank_kind")
        if "default_action" in out and out["default_action"] not in ACTIONS:
            raise InvalidInput(f"default_action: must be one of {', '.join(ACTIONS)}", code="invalid_action")
        if "labels" in out:
            out["labels"] = validate_labels(out["labels"] or [])
        if "thresholds" in out:
            checked: dict[str, int] = {}
            for sig_name, value in (out["thresholds"] or {}).items():
                sig = self.registry.signal(sig_name)
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= sig.max_threshold:
                    raise InvalidInput(
                        f"thresholds.{sig_name}: must be an integer from 0 to {sig.max_threshold}",
                        code="invalid_threshold",
                    )
                checked[sig_name] = value
            out["thresholds"] = checked
        return out

    def create(self, name: str, *, description: str = "", kind: str = "block", default_action: str = "block",
               labels: list[str] | None = None, thresholds: dict[str, int] | None = None,
               enabled: bool = True) -> Bank:
        validate_bank_name(name)
        forget_banks(self.db)  # the console's short-lived bank list (see store.bank_list)
        fields = self._validate_fields({
            "description": description, "kind": kind, "default_action": default_action,
            "labels": labels or [], "thresholds": thresholds or {}, "enabled": enabled,
        })
        try:
            with self.db.session() as s:
                row = BankRow(name=name, **fields)
                s.add(row)
                s.flush()
                return bank_from_row(row, entry_count=0)
        except IntegrityError:
            raise Conflict(f"a bank named {name!r} already exists", code="bank_exists") from None

    def list_banks(self) -> list[Bank]:
        with self.db.session() as s:
            counts = dict(
                s.execute(select(BankEntryRow.bank_id, func.count()).group_by(BankEntryRow.bank_id)).all()
            )
            return [bank_from_row(r, counts.get(r.id, 0)) for r in s.scalars(select(BankRow).order_by(BankRow.name))]

    def get(self, name: str) -> Bank:
        with self.db.session() as s:
            row = s.scalar(select(BankRow).where(BankRow.name == name))
            if row is None:
                raise NotFound(f"no bank named {name!r}", code="bank_not_found")
            count = s.scalar(select(func.count()).select_from(BankEntryRow).where(BankEntryRow.bank_id == row.id))
            return bank_from_row(row, int(count or 0))

    def update(self, name: str, changes: dict[str, Any]) -> Bank:
        allowed = {"description", "kind", "default_action", "labels", "thresholds", "enabled"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", code="invalid_field")
        fields = self._validate_fields(changes)
        forget_banks(self.db)
        # One UPDATE … RETURNING, not read-then-write: a bank deleted meanwhile is a 404, not a stale row.
        with self.db.session() as s:
            row = s.scalars(update(BankRow).where(BankRow.name == name).values(**fields, updated_at=utcnow())
                            .returning(BankRow).execution_options(synchronize_session=False)).one_or_none()
            if row is None:
                raise NotFound(f"no bank named {name!r}", code="bank_not_found")
            return bank_from_row(row)

    def delete(self, name: str) -> list[tuple[int, str, str]]:
        """Delete a bank and its entries; returns the removed (id, signal type, value) for the indexes."""
        forget_banks(self.db)
        with self.db.session() as s:
            row = s.scalar(select(BankRow).where(BankRow.name == name))
            if row is None:
                raise NotFound(f"no bank named {name!r}", code="bank_not_found")
            gone = [
                (int(i), t, v)
                for i, t, v in s.execute(
                    select(BankEntryRow.id, BankEntryRow.signal_type, BankEntryRow.value).where(
                        BankEntryRow.bank_id == row.id
                    )
                )
            ]
            s.execute(delete(BankEntryRow).where(BankEntryRow.bank_id == row.id))
            s.delete(row)
            return gone

    # --- entries -----------------------------------------------------------------------------
    def normalize_entry(self, entry: EntryInput) -> EntryInput:
        sig = self.registry.signal(entry.signal_type)
        return EntryInput(
            signal_type=sig.name,
            value=sig.normalize(entry.value),
            labels=validate_labels(entry.labels),
            source=(entry.source or "")[:200],
            first_seen=entry.first_seen,
            note=entry.note or "",
            meta=entry.meta or {},
        )

    def add_entry(self, bank_name: str, entry: EntryInput, *, added_by: str) -> tuple[BankEntry, bool]:
        """Add one entry; an identical (signal type, value) already in the bank is returned as it is."""
        e = self.normalize_entry(entry)
        bank = self.get(bank_name)
        digest = value_digest(e.value)
        with self.db.session() as s:
            row = insert_unless_exists(s, BankEntryRow, {
                "bank_id": bank.id, "signal_type": e.signal_type, "value": e.value, "value_digest": digest,
                "labels": e.labels, "source": e.source, "first_seen": e.first_seen, "added_by": added_by,
                "note": e.note, "meta": e.meta or {},
            }, conflict=("bank_id", "signal_type", "value_digest"))
            if row is not None:
                return entry_from_row(row), True
            # a concurrent identical request (or an earlier one) got there first: its row is the answer
            existing = s.scalars(select(BankEntryRow).where(
                BankEntryRow.bank_id == bank.id, BankEntryRow.signal_type == e.signal_type,
                BankEntryRow.value_digest == digest)).one()
            return entry_from_row(existing), False

    def get_entry(self, bank_name: str, entry_id: int) -> BankEntry:
        bank = self.get(bank_name)
        with self.db.session() as s:
            row = s.get(BankEntryRow, entry_id)
            if row is None or row.bank_id != bank.id:
                raise NotFound(f"bank {bank_name!r} has no entry {entry_id}", code="entry_not_found")
            return entry_from_row(row)

    def delete_entry(self, bank_name: str, entry_id: int, *, actor: str | None = None,
                     reason: str = "") -> BankEntry:
        """Delete one entry; with an ``actor`` the deletion and its reason are audited in the same transaction."""
        entry = self.get_entry(bank_name, entry_id)
        with self.db.session() as s:
            gone = s.execute(delete(BankEntryRow).where(BankEntryRow.id == entry_id).returning(BankEntryRow.id)).first()
            if gone is None:  # deleted meanwhile by someone else: theirs is the audited deletion
                raise NotFound(f"bank {bank_name!r} has no entry {entry_id}", code="entry_not_found")
            if actor is not None:
                from seawall.review.audit import record

                record(s, actor, "bank.entry_delete", "bank_entry", entry_id,
                       {"bank": bank_name, "signal_type": entry.signal_type, "value": entry.value,
                        "labels": entry.labels, "reason": reason})
        return entry

    def search_entries(self, bank_name: str, query: str = "", *, after_id: int = 0,
                       limit: int = 50) -> list[BankEntry]:
        """Entries matching ``query`` in id order, one page at a time, filtered and paged by the database.

        A query matches an entry whose value starts with it (as typed, or lowercased for hex hashes), whose value
        is exactly it, or which carries it as a label: a hash, a pasted value or a label finds its entries.
        """
        bank = self.get(bank_name)
        q = select(BankEntryRow).where(BankEntryRow.bank_id == bank.id, BankEntryRow.id > after_id)
        query = query.strip()[:2000]
        if query:
            low = query.lower()

            def starts(text: str) -> ColumnElement[bool]:
                return BankEntryRow.value.like(escape_like(text) + "%", escape="\\")

            # as typed (mixed-case values such as TLSH or text fingerprints) and lowercased (hex hashes)
            q = q.where(or_(BankEntryRow.value_digest == value_digest(query),
                            BankEntryRow.value_digest == value_digest(low),
                            starts(query), starts(low), json_holds_string(BankEntryRow.labels, low)))
        with self.db.session() as s:
            return [entry_from_row(r) for r in s.scalars(q.order_by(BankEntryRow.id).limit(limit))]

    def list_entries(self, bank_name: str, *, after_id: int = 0, limit: int = 100) -> list[BankEntry]:
        bank = self.get(bank_name)
        with self.db.session() as s:
            rows = s.scalars(
                select(BankEntryRow)
                .where(BankEntryRow.bank_id == bank.id, BankEntryRow.id > after_id)
                .order_by(BankEntryRow.id)
                .limit(limit)
            )
            return [entry_from_row(r) for r in rows]
