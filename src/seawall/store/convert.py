"""Row ↔ domain conversions, kept in one place so tables and dataclasses can evolve separately."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from seawall.models.records import Bank, BankEntry

if TYPE_CHECKING:
    from sqlalchemy import Row

    from seawall.store.light import BankColumns
    from seawall.store.tables import BankEntryRow, BankRow


def aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes even for timezone columns; every stored time is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def bank_from_row(row: BankRow | Row[Any] | BankColumns, entry_count: int | None = None) -> Bank:
    """A bank from its mapped row, or from any row holding the ``banks`` columns by their names."""
    return Bank(
        id=row.id,
        name=row.name,
        description=row.description,
        kind=row.kind,
        default_action=row.default_action,
        labels=list(row.labels or []),
        thresholds=dict(row.thresholds or {}),
        enabled=row.enabled,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        entry_count=entry_count,
    )


def entry_from_row(row: BankEntryRow) -> BankEntry:
    return BankEntry(
        id=row.id,
        bank_id=row.bank_id,
        signal_type=row.signal_type,
        value=row.value,
        labels=list(row.labels or []),
        source=row.source,
        first_seen=aware(row.first_seen),
        added_by=row.added_by,
        note=row.note,
        created_at=aware(row.created_at),
        meta=dict(row.meta or {}),
    )
