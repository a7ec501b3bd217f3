"""Bulk import and export of hash lists.

Imports stream: lines are parsed, normalised and inserted in batches inside one transaction, so a
file of millions of lines needs constant memory, a crash leaves nothing half-written, and a re-import
adds nothing (the unique key on bank, signal type and value absorbs duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from seawall.domain.labels import validate_labels
from seawall.domain.models import Bank, BankEntry
from seawall.errors import InvalidInput, SeawallError
from seawall.plugins import Registry
from seawall.sharing.base import HashListFormat, ParsedEntry, RejectedLine
from seawall.store.convert import entry_from_row
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow, utcnow

BATCH = 5_000
MAX_REPORTED_REJECTS = 1_000


@dataclass(slots=True)
class ImportReport:
    lines_read: int = 0
    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_lines: list[RejectedLine] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)

    def reject(self, line: RejectedLine) -> None:
        self.rejected += 1
        if len(self.rejected_lines) < MAX_REPORTED_REJECTS:
            self.rejected_lines.append(line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines_read": self.lines_read,
            "added": self.added,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejected_lines": [r.to_dict() for r in self.rejected_lines],
            "rejected_lines_truncated": self.rejected > len(self.rejected_lines),
        }


def _insert_stmt(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(BankEntryRow).on_conflict_do_nothing(
            index_elements=["bank_id", "signal_type", "value"]
        )
    return sqlite.insert(BankEntryRow).on_conflict_do_nothing(index_elements=["bank_id", "signal_type", "value"])


def import_entries(
    db: Database,
    registry: Registry,
    bank: Bank,
    fmt: HashListFormat,
    lines: Iterable[str],
    *,
    added_by: str,
    source: str = "",
    labels: list[str] | None = None,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import lines into ``bank``. With ``strict`` any rejected line aborts the whole import."""
    extra_labels = validate_labels(labels or [])
    report = ImportReport()
    stmt = _insert_stmt(db.dialect).returning(BankEntryRow.id)
    now = utcnow()
    batch: list[dict[str, Any]] = []
    seen_lines = 0

    def flush(s: Session) -> None:
        if not batch:
            return
        ids = s.scalars(stmt, batch).all()
        report.added += len(ids)
        report.duplicates += len(batch) - len(ids)
        report.new_ids.extend(int(i) for i in ids)
        batch.clear()

    sig_cache = dict(registry.signal_types)
    with db.session() as s:
        for parsed in fmt.parse(lines):
            if isinstance(parsed, RejectedLine):
                report.reject(parsed)
                if strict:
                    break
                continue
            report.lines_read += 1
            row = _row(parsed, sig_cache, bank, extra_labels, source, added_by, now, report)
            if row is None:
                if strict:
                    break
                continue
            batch.append(row)
            if len(batch) >= BATCH:
                flush(s)
                if progress:
                    progress(parsed.line_no - seen_lines)
                    seen_lines = parsed.line_no
        if strict and report.rejected:
            raise InvalidInput(
                f"{report.rejected} line(s) rejected; nothing was imported (strict mode)",
                code="import_rejected",
                detail=[r.to_dict() for r in report.rejected_lines],
            )
        flush(s)
    report.lines_read += report.rejected
    return report


def _row(parsed: ParsedEntry, sigs: dict[str, Any], bank: Bank, extra_labels: list[str], source: str,
         added_by: str, now: Any, report: ImportReport) -> dict[str, Any] | None:
    sig = sigs.get(parsed.signal_type)
    if sig is None:
        report.reject(RejectedLine(parsed.line_no, f"unknown signal type {parsed.signal_type!r}"))
        return None
    try:
        value = sig.normalize(parsed.value)
        entry_labels = validate_labels([*parsed.labels, *extra_labels]) if parsed.labels else extra_labels
    except SeawallError as exc:
        report.reject(RejectedLine(parsed.line_no, exc.message))
        return None
    return {
        "bank_id": bank.id,
        "signal_type": sig.name,
        "value": value,
        "labels": entry_labels,
        "source": source[:200],
        "first_seen": parsed.first_seen,
        "added_by": added_by,
        "note": "",
        "meta": parsed.meta,
        "created_at": now,
    }


def iter_entries(db: Database, bank: Bank, *, chunk: int = 10_000) -> Iterator[BankEntry]:
    """Every entry of a bank in id order, read in chunks so exports of millions need little memory."""
    after = 0
    while True:
        with db.session() as s:
            rows = list(
                s.scalars(
                    select(BankEntryRow)
                    .where(BankEntryRow.bank_id == bank.id, BankEntryRow.id > after)
                    .order_by(BankEntryRow.id)
                    .limit(chunk)
                )
            )
        if not rows:
            return
        for r in rows:
            yield entry_from_row(r)
        after = rows[-1].id


def export_lines(db: Database, bank: Bank, fmt: HashListFormat) -> Iterator[str]:
    return fmt.write(iter_entries(db, bank))
