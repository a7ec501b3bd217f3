"""Sending statements to the DSA Transparency Database in its batch format.

``POST /api/v1/statements`` takes ``{"statements": [...]}`` with 1–100 items and is all-or-nothing:
one bad statement (errors keyed ``statement_<index>``) and none is stored. So every statement is
checked locally first; a batch is built only from statements that pass; a 422 marks exactly the
statements the database named as rejected and leaves the rest pending for the next run; 429, 5xx
and network failures leave everything pending (anything but 201 means "not stored: retry later").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
from sqlalchemy import select, update

from seawall.errors import InvalidInput, SeawallError
from seawall.legal.clock import as_utc
from seawall.legal.sor_fields import MAX_BATCH
from seawall.legal.sor_validate import validate
from seawall.store.db import Database
from seawall.store.tables import StatementRow

T = TypeVar("T")


class SubmissionRefused(SeawallError):
    """The database refused our credentials; nothing more is sent until they are fixed."""

    status = 502
    code = "tdb_unauthorized"


@dataclass
class SubmitReport:
    dry_run: bool
    batches: int = 0
    submitted: list[str] = field(default_factory=list)
    rejected: dict[str, Any] = field(default_factory=dict)
    invalid_locally: dict[str, Any] = field(default_factory=dict)
    pending: int = 0
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "batches": self.batches, "submitted": self.submitted,
                "rejected": self.rejected, "invalid_locally": self.invalid_locally, "pending": self.pending,
                "stopped": self.stopped}


def chunks(records: list[T], size: int = MAX_BATCH) -> Iterator[list[T]]:
    """Batches of at most ``size`` (the database accepts ``between:1,100``); never an empty batch."""
    if not 1 <= size <= MAX_BATCH:
        raise InvalidInput(f"batch size: 1 to {MAX_BATCH}", code="invalid_batch_size")
    for i in range(0, len(records), size):
        yield records[i:i + size]


def export(db: Database, *, size: int = MAX_BATCH, status: str = "pending",
           limit: int = 10_000) -> dict[str, Any]:
    """The pending statements as the database's batch bodies, plus the ones that fail local validation."""
    with db.session() as s:
        rows = list(s.scalars(select(StatementRow).where(StatementRow.status == status)
                              .order_by(StatementRow.id).limit(limit)))
        valid, invalid = _split(rows)
    return {"batches": [{"statements": b} for b in chunks([r.record for r in valid], size)],
            "invalid": {r.puid: p for r, p in invalid}}


def _split(rows: Iterable[StatementRow]) -> tuple[list[StatementRow], list[tuple[StatementRow, list[Any]]]]:
    valid, invalid = [], []
    for r in rows:
        problems = validate(r.record)
        if problems:
            invalid.append((r, problems))
        else:
            valid.append(r)
    return valid, invalid


def submit(db: Database, base_url: str, token: str, now: datetime, *, dry_run: bool = False,
           size: int = MAX_BATCH, limit: int = 10_000, timeout: float = 30.0,
           transport: httpx.BaseTransport | None = None) -> SubmitReport:
    """Send pending statements in batches; mark each one submitted, rejected or leave it pending."""
    report = SubmitReport(dry_run=dry_run)
    if not dry_run and (not base_url or not token):
        raise InvalidInput("set SEAWALL_LEGAL_TDB_URL and SEAWALL_LEGAL_TDB_TOKEN to submit (or use a dry run)",
                           code="tdb_not_configured")
    with db.session() as s:
        rows = list(s.scalars(select(StatementRow).where(StatementRow.status == "pending")
                              .order_by(StatementRow.id).limit(limit)))
        valid, invalid = _split(rows)
        for r, problems in invalid:
            report.invalid_locally[r.puid] = problems
            if not dry_run:
                r.status = "rejected"
                r.error = {"local": problems}
    batches = list(chunks(valid, size))
    report.batches = len(batches)
    if dry_run:
        report.pending = len(valid)
        return report
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport) as http:
        for n, batch in enumerate(batches):
            try:
                resp = http.post("/api/v1/statements", json={"statements": [r.record for r in batch]})
            except httpx.HTTPError as exc:
                report.stopped = f"network: {type(exc).__name__}"
                report.pending += sum(len(b) for b in batches[n:])
                break
            if resp.status_code == 401:
                raise SubmissionRefused("the Transparency Database refused the token (401); generate a new one")
            if resp.status_code == 201:
                stored = {st.get("puid"): st for st in resp.json().get("statements", [])}
                _mark_submitted(db, batch, stored, now)
                report.submitted += [r.puid for r in batch]
            elif resp.status_code == 422:
                errors = (resp.json() or {}).get("errors", {})
                named = {int(k.split("_", 1)[1]): v for k, v in errors.items() if k.startswith("statement_")}
                marked = _mark_rejected(db, batch, named)
                report.rejected.update({batch[i].puid: e for i, e in named.items() if i in marked})
                report.pending += len(batch) - len(named)
            else:  # 429 rate limit, 5xx: nothing stored, try the rest next time
                report.stopped = f"HTTP {resp.status_code}"
                report.pending += sum(len(b) for b in batches[n:])
                break
    return report


def _mark_submitted(db: Database, batch: list[StatementRow], stored: dict[str, Any], now: datetime) -> None:
    """The database stored these: they are submitted, whatever another run marked meanwhile (its copy of the
    batch was refused as not unique because this one was stored)."""
    with db.session() as s:
        for r in batch:
            s.execute(update(StatementRow).where(StatementRow.id == r.id).values(
                status="submitted", submitted_at=as_utc(now), error=None,
                tdb_uuid=str((stored.get(r.puid) or {}).get("uuid") or "")[:64] or None))


def _mark_rejected(db: Database, batch: list[StatementRow], named: dict[int, Any]) -> set[int]:
    """Mark the statements the database named as rejected, if still pending: one that another run submitted
    meanwhile (so the database refused this copy as not unique) stays submitted. Returns the indexes marked.

    One conditional UPDATE per statement, so the check and the change are one step on SQLite too.
    """
    marked = set()
    with db.session() as s:
        for i, errors in named.items():
            if i >= len(batch):
                continue
            done = s.execute(update(StatementRow).where(StatementRow.id == batch[i].id,
                                                        StatementRow.status == "pending")
                             .values(status="rejected", error={"tdb": errors}))
            if getattr(done, "rowcount", 0):
                marked.add(i)
    return marked
