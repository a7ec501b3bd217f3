"""Strikes, suspensions and appeals for pseudonymous account ids.

Many of the platforms Seawall serves know their users only by an opaque id, so an account here is
just that id and what happened to it. Strikes expire so that an old mistake does not count forever;
crossing a threshold of *active* strikes suspends the account, first for a while, then for good.
Writes take a session so they join the caller's transaction (the decision that caused them), and an
account row is locked while its strikes are counted so two uploads cannot both slip under a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from seawall.config import Settings
from seawall.errors import Conflict, InvalidInput, NotFound
from seawall.rules.facts import AccountFact
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.group_commit import in_key_order
from seawall.store.tables import (
    AccountRow,
    ActionRow,
    AppealRow,
    ItemRow,
    StrikeRow,
    SuspensionRow,
    utcnow,
)
from seawall.store.write_lock import take_write_lock

MAX_APPEAL_CHARS = 10_000

_ACCOUNTS: Table = AccountRow.__table__  # type: ignore[assignment]
#: "Insert the account unless it exists", per dialect that can say so in one statement.
_ENSURE_ACCOUNT: dict[str, Any] = {
    "postgresql": in_key_order(pg_insert(_ACCOUNTS).on_conflict_do_nothing(index_elements=["id"]), "id"),
    "sqlite": in_key_order(sqlite_insert(_ACCOUNTS).on_conflict_do_nothing(index_elements=["id"]), "id"),
}


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    strike_expiry: timedelta
    temporary_after: int
    permanent_after: int
    suspension: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountPolicy:
        return cls(
            strike_expiry=timedelta(days=settings.strike_expiry_days),
            temporary_after=settings.strikes_for_temporary_suspension,
            permanent_after=settings.strikes_for_permanent_suspension,
            suspension=timedelta(days=settings.suspension_days),
        )


@dataclass(slots=True)
class StrikeOutcome:
    strike: dict[str, Any]
    active_strikes: int
    suspension: dict[str, Any] | None
    #: The item had already given the account this strike: nothing was added, suspended or announced.
    repeated: bool = False


def _iso(dt: datetime | None) -> str | None:
    value = aware(dt)
    return value.isoformat() if value else None


def strike_dict(r: StrikeRow, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    expires = aware(r.expires_at)
    return {"id": r.id, "item_id": r.item_id, "rule": r.rule_id, "reason": r.reason,
            "created_at": _iso(r.created_at), "expires_at": _iso(expires),
            "active": expires is None or expires > now}


def suspension_dict(r: SuspensionRow, now: datetime | None = None) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "starts_at": _iso(r.starts_at), "ends_at": _iso(r.ends_at),
            "item_id": r.item_id, "rule": r.rule_id, "reason": r.reason, "lifted_at": _iso(r.lifted_at),
            "active": _suspension_active(r, now or utcnow())}


def appeal_dict(r: AppealRow) -> dict[str, Any]:
    """What the appellant (through the platform) may see: their statement, the status and the outcome."""
    return {"id": r.id, "account_id": r.account_id, "item_id": r.item_id, "text": r.text, "status": r.status,
            "created_at": _iso(r.created_at), "case_id": r.case_id, "outcome": r.outcome,
            "decided_at": _iso(r.decided_at), "reversal": r.reversal}


def waiting_appeal(s: Session, account_id: str, item_id: str | None) -> Conflict | None:
    """The 409 for a second appeal while one for the same item (or, without an item, the same account's
    suspension) waits for a decision; None when there is none. The database holds the same rule as a
    partial unique index, which decides between concurrent first appeals."""
    query = select(AppealRow.id).where(AppealRow.status == "received")
    query = (query.where(AppealRow.item_id == item_id) if item_id is not None
             else query.where(AppealRow.account_id == account_id, AppealRow.item_id.is_(None)))
    appeal_id = s.scalar(query.limit(1))
    if appeal_id is None:
        return None
    what = "this item" if item_id is not None else "this account"
    return Conflict(f"an appeal for {what} is already waiting for a decision", code="appeal_exists",
                    detail={"appeal_id": int(appeal_id)})


def _suspension_active(r: SuspensionRow, now: datetime) -> bool:
    if r.lifted_at is not None:
        return False
    ends = aware(r.ends_at)
    return r.kind == "permanent" or (ends is not None and ends > now)


class AccountService:
    def __init__(self, db: Database, policy: AccountPolicy) -> None:
        self.db = db
        self.policy = policy

    # --- writes inside the caller's transaction --------------------------------------------------
    @staticmethod
    def ensure(s: Session, account_id: str) -> None:
        """Record that the account exists; concurrent first uploads by one account are harmless.

        This runs for every upload with an account id: the statement is built once per dialect and run on
        the table (Core) with bound values, not rebuilt per call and sent through the ORM's bulk layer,
        which cost more than the INSERT itself.
        """
        values = {"id": account_id, "first_seen": utcnow()}
        dialect = s.get_bind().dialect.name
        stmt = _ENSURE_ACCOUNT.get(dialect)
        if stmt is not None:
            s.connection().execute(stmt, values)
        elif s.get(AccountRow, account_id) is None:
            s.add(AccountRow(**values))
            s.flush()

    @staticmethod
    def ensure_row(account_id: str, dialect: str) -> tuple[Any, dict[str, Any]] | None:
        """:meth:`ensure` as a (statement, row) pair that a group commit runs once for many uploads (the same
        statement object for every account, so rows are pooled into one multi-row INSERT), or None on a
        dialect that has no "insert unless it exists" statement (then :meth:`ensure` is called).

        Why: an upload's account row was one statement of its own; a group of uploads now sends one.
        """
        stmt = _ENSURE_ACCOUNT.get(dialect)
        return None if stmt is None else (stmt, {"id": account_id, "first_seen": utcnow()})

    def _lock(self, s: Session, account_id: str) -> None:
        """Hold the account until ``s`` ends, so its strikes and suspensions read here are the newest.

        PostgreSQL locks the account's row; SQLite, which ignores ``FOR UPDATE``, takes its write lock.
        """
        take_write_lock(s)
        self.ensure(s, account_id)
        s.execute(select(AccountRow.id).where(AccountRow.id == account_id).with_for_update())

    @staticmethod
    def _active_strikes(s: Session, account_id: str, now: datetime) -> int:
        return int(s.scalar(
            select(func.count()).select_from(StrikeRow).where(
                StrikeRow.account_id == account_id,
                (StrikeRow.expires_at.is_(None)) | (StrikeRow.expires_at > now),
            )
        ) or 0)

    @staticmethod
    def _active_suspension(s: Session, account_id: str, now: datetime) -> SuspensionRow | None:
        rows = s.scalars(
            select(SuspensionRow).where(SuspensionRow.account_id == account_id, SuspensionRow.lifted_at.is_(None))
            .order_by(SuspensionRow.id.desc())
        ).all()
        active = [r for r in rows if _suspension_active(r, now)]
        if not active:
            return None
        permanent = [r for r in active if r.kind == "permanent"]
        if permanent:
            return permanent[0]
        return max(active, key=lambda r: aware(r.ends_at) or now)

    def add_strike(self, s: Session, account_id: str, *, item_id: str | None, rule_id: str | None,
                   reason: str, now: datetime | None = None) -> StrikeOutcome:
        """Add a strike; crossing a threshold of active strikes suspends the account in the same transaction.

        A strike while already suspended does not stack another temporary suspension; only the
        permanent threshold changes a running suspension. One item gives an account one strike: a strike
        for an item that already gave one (not withdrawn; expired counts) answers with that strike and
        changes nothing, so a repeated or concurrent decision cannot push the account over a threshold.
        The account's row lock orders those decisions; a unique index keeps it in the database too.
        """
        now = now or utcnow()
        self._lock(s, account_id)
        if item_id is not None:
            given = s.scalar(select(StrikeRow).where(StrikeRow.account_id == account_id, StrikeRow.item_id == item_id,
                                                     StrikeRow.withdrawn_at.is_(None)).limit(1))
            if given is not None:
                return StrikeOutcome(strike_dict(given, now), self._active_strikes(s, account_id, now), None,
                                     repeated=True)
        row = StrikeRow(account_id=account_id, item_id=item_id, rule_id=rule_id, reason=reason, created_at=now,
                        expires_at=now + self.policy.strike_expiry)
        s.add(row)
        s.flush()
        active = self._active_strikes(s, account_id, now)
        suspension = None
        if active >= self.policy.permanent_after:
            suspension = self.suspend(s, account_id, permanent=True, item_id=item_id, rule_id=rule_id, now=now,
                                      reason=f"{active} active strikes (permanent threshold "
                                             f"{self.policy.permanent_after})")
        elif active >= self.policy.temporary_after and self._active_suspension(s, account_id, now) is None:
            suspension = self.suspend(s, account_id, permanent=False, item_id=item_id, rule_id=rule_id, now=now,
                                      reason=f"{active} active strikes (temporary threshold "
                                             f"{self.policy.temporary_after})")
        return StrikeOutcome(strike_dict(row, now), active, suspension)

    def suspend(self, s: Session, account_id: str, *, permanent: bool, days: float | None = None,
                item_id: str | None = None, rule_id: str | None = None, reason: str = "",
                now: datetime | None = None) -> dict[str, Any] | None:
        """Suspend unless an equal or longer suspension is already running; None means nothing changed."""
        now = now or utcnow()
        self._lock(s, account_id)
        current = self._active_suspension(s, account_id, now)
        ends = None if permanent else now + (timedelta(days=days) if days else self.policy.suspension)
        if current is not None:
            if current.kind == "permanent":
                return None
            current_end = aware(current.ends_at)
            if ends is not None and current_end is not None and current_end >= ends:
                return None
        row = SuspensionRow(account_id=account_id, kind="permanent" if permanent else "temporary", starts_at=now,
                            ends_at=ends, item_id=item_id, rule_id=rule_id, reason=reason)
        s.add(row)
        s.flush()
        return suspension_dict(row, now)

    def withdraw_strike(self, s: Session, strike_id: int, *, why: str,
                        now: datetime | None = None) -> dict[str, Any] | None:
        """End a strike now (it stays on record, marked withdrawn); None if it had already ended."""
        now = now or utcnow()
        row = s.get(StrikeRow, strike_id, with_for_update=True)
        if row is None:
            return None
        expires = aware(row.expires_at)
        if expires is not None and expires <= now:
            return None
        row.expires_at = now
        row.withdrawn_at = now
        row.reason = f"{row.reason} [withdrawn: {why}]"[:5000]
        return strike_dict(row, now)

    def lift_suspension(self, s: Session, suspension_id: int, *, why: str,
                        now: datetime | None = None) -> dict[str, Any] | None:
        """Lift a running suspension; None if it was not running (ended or lifted before)."""
        now = now or utcnow()
        row = s.get(SuspensionRow, suspension_id, with_for_update=True)
        if row is None or not _suspension_active(row, now):
            return None
        row.lifted_at = now
        row.reason = f"{row.reason} [lifted: {why}]"[:5000]
        return suspension_dict(row, now)

    def active_strikes(self, s: Session, account_id: str, now: datetime | None = None) -> int:
        return self._active_strikes(s, account_id, now or utcnow())

    # --- reads -----------------------------------------------------------------------------------
    def snapshot(self, account_id: str | None) -> AccountFact | None:
        """What the rules may know about an uploader: active strikes and whether it is suspended."""
        if not account_id:
            return None
        now = utcnow()
        with self.db.session() as s:
            strikes = self._active_strikes(s, account_id, now)
            suspended = self._active_suspension(s, account_id, now) is not None
        return AccountFact(id=account_id, strikes=strikes, suspended=suspended)

    def _require(self, s: Session, account_id: str) -> AccountRow:
        row = s.get(AccountRow, account_id)
        if row is None:
            raise NotFound(f"no account {account_id!r}; accounts appear when they first upload",
                           code="account_not_found")
        return row

    def history(self, account_id: str, *, limit: int = 100) -> dict[str, Any]:
        """Everything done to an account, newest first, so a reviewer or the user can see why."""
        with self.db.session() as s:
            return self.history_in(s, account_id, limit=limit)

    def history_in(self, s: Session, account_id: str, *, limit: int = 100) -> dict[str, Any]:
        """:meth:`history` in the caller's transaction (the case page reads everything in one)."""
        now = utcnow()
        row = self._require(s, account_id)
        strikes = s.scalars(select(StrikeRow).where(StrikeRow.account_id == account_id)
                            .order_by(StrikeRow.id.desc()).limit(limit)).all()
        suspensions = s.scalars(select(SuspensionRow).where(SuspensionRow.account_id == account_id)
                                .order_by(SuspensionRow.id.desc()).limit(limit)).all()
        appeals = s.scalars(select(AppealRow).where(AppealRow.account_id == account_id)
                            .order_by(AppealRow.id.desc()).limit(limit)).all()
        items = s.execute(
            select(ItemRow.id, ItemRow.content_id, ItemRow.content_type, ItemRow.received_at, ItemRow.status,
                   ItemRow.verdict)
            .where(ItemRow.account_id == account_id).order_by(ItemRow.received_at.desc()).limit(limit)
        ).all()
        item_ids = [r.id for r in items]
        acts: dict[str, list[dict[str, Any]]] = {}
        if item_ids:
            for a in s.scalars(select(ActionRow).where(ActionRow.item_id.in_(item_ids)).order_by(ActionRow.id)):
                acts.setdefault(a.item_id, []).append({"type": a.type, **a.params, "rule": a.rule_id,
                                                       "status": a.status})
        active_strikes = self._active_strikes(s, account_id, now)
        current = self._active_suspension(s, account_id, now)
        return {
            "id": row.id,
            "first_seen": _iso(row.first_seen),
            "status": "suspended" if current is not None else "active",
            "suspension": suspension_dict(current, now) if current is not None else None,
            "active_strikes": active_strikes,
            "strikes": [strike_dict(r, now) for r in strikes],
            "suspensions": [suspension_dict(r, now) for r in suspensions],
            "appeals": [appeal_dict(r) for r in appeals],
            "items": [
                {"id": r.id, "content_id": r.content_id, "content_type": r.content_type,
                 "received_at": _iso(r.received_at), "status": r.status, "verdict": r.verdict,
                 "actions": acts.get(r.id, [])}
                for r in items
            ],
        }

    def appeal(self, s: Session, account_id: str, *, text: str, item_id: str | None,
               submitted_by: str | None) -> dict[str, Any]:
        """Record an appeal for the review console to decide; the account (and item) must exist."""
        self._require(s, account_id)
        if len(text) > MAX_APPEAL_CHARS:
            raise InvalidInput(f"text: at most {MAX_APPEAL_CHARS} characters", code="invalid_field")
        if item_id is not None:
            owner = s.scalar(select(ItemRow.account_id).where(ItemRow.id == item_id))
            if owner is None:
                raise NotFound(f"no item {item_id!r} of account {account_id!r}", code="item_not_found")
            if owner != account_id:
                raise InvalidInput(f"item_id: item {item_id!r} was not uploaded by account {account_id!r}",
                                   code="invalid_field")
        waiting = waiting_appeal(s, account_id, item_id)
        if waiting is not None:
            raise waiting
        result = s.execute(insert(AppealRow).returning(AppealRow.id), {
            "account_id": account_id, "item_id": item_id, "text": text, "status": "received",
            "submitted_by": submitted_by, "created_at": utcnow(),
        })
        appeal_id = int(result.scalar_one())
        row = s.get(AppealRow, appeal_id)
        assert row is not None
        return appeal_dict(row)
