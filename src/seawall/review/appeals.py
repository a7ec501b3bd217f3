"""Appeals: a user contests a decision; a *different*, senior reviewer upholds or rejects it.

An appeal opens a case of kind ``appeal`` in the senior queue, carrying the media of the original
case when there was one. The reviewer who made the contested decision may not decide its appeal
(independent review, as the DSA's internal complaint handling expects). Upheld means the user was
right: the decision's actions are reversed (:mod:`seawall.review.reversal`) and the bank entries it
created are removed; rejected keeps everything. Either way the outcome is stored on the appeal,
audited, announced (``appeal.decided``) and readable by the platform through ``GET /v1/appeals/{id}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.accounts.service import MAX_APPEAL_CHARS, appeal_dict, waiting_appeal
from seawall.errors import Conflict, Forbidden, InvalidInput, NotFound
from seawall.models.labels import severity
from seawall.review.audit import record
from seawall.review.cases import SLA, TIERS, _lock_open_case
from seawall.review.reversal import reverse
from seawall.review.users import ConsoleUser
from seawall.store.case_tags import sync_case_tags, tag_case
from seawall.store.tables import (
    AppealRow,
    CaseDecisionRow,
    CaseMediaRow,
    CaseRow,
    DecisionRow,
    ItemRow,
    MatchRow,
    utcnow,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from seawall.accounts.service import AccountService
    from seawall.actions.runner import ActionRunner
    from seawall.models.records import Item
    from seawall.store.db import Database
    from seawall.uploads.ingest import ItemService
    from seawall.webhooks.outbox import Outbox

APPEAL_OUTCOMES = ("upheld", "rejected")
APPEAL_TIER = "normal"


class AppealService:
    """Files appeals and decides them; built by :func:`seawall.composition.appeal_service`."""

    def __init__(self, db: Database, *, items: ItemService, accounts: AccountService, outbox: Outbox,
                 actions: ActionRunner, remove_entry: Callable[[str, int], None],
                 events_queued: Callable[[], None]) -> None:
        self.db = db
        self.items = items
        self.accounts = accounts
        self.outbox = outbox
        self.actions = actions
        #: Takes a bank entry out of its bank and every index (an upheld appeal undoes what a reviewer added).
        self.remove_entry = remove_entry
        #: Wakes the webhook sender after a commit that queued deliveries.
        self.events_queued = events_queued

    def submit(self, *, statement: str, submitted_by: str | None, item_id: str | None = None,
               account_id: str | None = None) -> dict[str, Any]:
        """File an appeal: the one road for ``POST /v1/appeals`` and ``POST /v1/accounts/{id}/appeal``.

        With an item, the appeal and its senior-queue case are stored in one transaction and its
        outcome can reverse the contested decision. Without one (an appeal against a suspension as
        such) the account's appeal is recorded for the platform's own process. Either way it is
        announced (``account.appealed``); a statement that is blank once trimmed is refused (422).
        """
        statement = statement.strip()
        if not statement or len(statement) > MAX_APPEAL_CHARS:
            raise InvalidInput(f"statement: 1 to {MAX_APPEAL_CHARS} characters in the user's own words",
                               code="invalid_field")
        if item_id is None:
            if account_id is None:
                raise InvalidInput("give item_id, account_id or both", code="invalid_request")
            return self._account_appeal(account_id, statement, submitted_by)
        item = self.items.get(item_id)
        if not item.account_id:
            raise InvalidInput("item_id: the item has no account_id, so nobody can appeal for it",
                               code="invalid_field")
        if account_id is not None and account_id != item.account_id:
            raise InvalidInput(f"account_id: item {item_id!r} was not uploaded by account {account_id!r}",
                               code="invalid_field")
        try:
            appeal, queued = self._open(item, statement, submitted_by)
        except IntegrityError:
            # a concurrent identical appeal won the partial unique index: answer with its 409
            raise self._conflict(str(item.account_id), item.id) from None
        if queued:
            self.events_queued()
        return appeal

    def _account_appeal(self, account_id: str, statement: str, submitted_by: str | None) -> dict[str, Any]:
        """Record an appeal against the account's standing (no item) and announce it."""
        try:
            with self.db.session() as s:
                appeal = self.accounts.appeal(s, account_id, text=statement, item_id=None,
                                                     submitted_by=submitted_by)
                queued = self.outbox.emit(s, [("account.appealed", {"account_id": account_id,
                                                                                    "appeal": appeal})])
        except IntegrityError:
            raise self._conflict(account_id, None) from None
        if queued:
            self.events_queued()
        return appeal

    def _conflict(self, account_id: str, item_id: str | None) -> Exception:
        """What a concurrent duplicate appeal gets once the winner has committed: the winner's 409."""
        with self.db.session() as s:
            return waiting_appeal(s, account_id, item_id) or Conflict(
                "an appeal for this item or account was filed at the same moment", code="appeal_exists")

    def _open(self, item: Item, statement: str, submitted_by: str | None) -> tuple[dict[str, Any], int]:
        with self.db.session() as s:
            s.execute(select(ItemRow.id).where(ItemRow.id == item.id).with_for_update())
            if (waiting := waiting_appeal(s, str(item.account_id), item.id)) is not None:
                raise waiting
            contested, decision_id, labels, source_case = _contested(s, item.id)
            prior = s.execute(select(AppealRow.id, AppealRow.status)
                              .where(AppealRow.decision_id == decision_id).limit(1)).first()
            if prior is not None and prior.status == "received":  # committed since the check above
                raise Conflict("an appeal for this item is already waiting for a decision", code="appeal_exists",
                               detail={"appeal_id": int(prior.id)})
            if prior is not None:
                raise Conflict("this decision was already appealed and the appeal decided", code="appeal_decided")
            appeal = self.accounts.appeal(s, str(item.account_id), text=statement, item_id=item.id,
                                                 submitted_by=submitted_by)
            now = utcnow()
            case = CaseRow(item_id=item.id, reason=f"appeal #{appeal['id']} against "
                           + (f"reviewer decision on case {source_case}" if contested else "an automated decision"),
                           source="appeal", priority=TIERS.index(APPEAL_TIER) * 10 + severity(labels),
                           status="open", created_at=now, sla_due_at=now + SLA[APPEAL_TIER], kind="appeal",
                           queue="senior", report_count=0, appeal_id=appeal["id"])
            s.add(case)
            s.flush()
            tag_case(s, case, item.verdict.matches)
            media = s.get(CaseMediaRow, source_case) if source_case is not None else None
            if media is not None:
                s.add(CaseMediaRow(case_id=case.id, media_type=media.media_type, data=media.data))
            s.execute(update(AppealRow).where(AppealRow.id == appeal["id"]).values(
                case_id=case.id, case_decision_id=contested, decision_id=decision_id))
            record(s, "system", "appeal.open", "case", case.id, {"appeal_id": appeal["id"], "item_id": item.id,
                                                                 "contested_decision": decision_id})
            appeal.update(case_id=case.id)
            queued = self.outbox.emit(s, [("account.appealed", {
                "account_id": item.account_id, "appeal": appeal})])
        return appeal, queued

    def get(self, appeal_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(AppealRow, appeal_id)
            if row is None:
                raise NotFound(f"no appeal {appeal_id}", code="appeal_not_found")
            return appeal_dict(row)

    def for_case(self, case_id: int) -> dict[str, Any] | None:
        """The appeal behind an appeal case, with the contested decision, for the reviewer's page."""
        with self.db.session() as s:
            return appeal_of_case(s, case_id)

    def decide(self, case_id: int, user: ConsoleUser, *, outcome: str, note: str = "") -> dict[str, Any]:
        """Uphold (reverse the decision) or reject (keep it); only a senior who did not make the decision."""
        if outcome not in APPEAL_OUTCOMES:
            raise InvalidInput(f"outcome: must be one of {', '.join(APPEAL_OUTCOMES)}", code="invalid_outcome")
        if not user.has("senior"):
            raise Forbidden("appeals are decided by the senior or admin role", code="forbidden")
        with self.db.session() as s:
            case = s.get(CaseRow, case_id)
            if case is not None and case.kind != "appeal":
                raise InvalidInput("this case is not an appeal", code="wrong_case_kind")
            row = _lock_open_case(s, case_id, user)
            appeal = s.scalar(select(AppealRow).where(AppealRow.id == row.appeal_id).with_for_update())
            if appeal is None:
                raise NotFound(f"case {case_id} has no appeal", code="appeal_not_found")
            contested = s.get(CaseDecisionRow, appeal.case_decision_id) if appeal.case_decision_id else None
            if contested is not None and (contested.user_id == user.id or contested.username == user.username):
                raise Forbidden("you made the decision under appeal; a different reviewer must decide the appeal",
                                code="same_reviewer")
            item = self.items.get(row.item_id)
            now = utcnow()
            reversal: dict[str, Any] = {}
            events: list[tuple[str, dict[str, Any]]] = []
            entries: list[int] = []
            bank = None
            if outcome == "upheld":
                if appeal.decision_id is not None:
                    reversal, events = reverse(s, self.accounts, appeal.decision_id, item,
                                               why=f"appeal #{appeal.id} upheld")
                if contested is not None and contested.entry_ids and contested.bank_name:
                    entries, bank = list(contested.entry_ids), contested.bank_name
                reversal["entries_removed"] = entries
                reversal["bank"] = bank
            appeal.status = "decided"
            appeal.outcome = outcome
            appeal.decided_by = user.username
            appeal.decided_at = now
            appeal.note = note[:2000]
            appeal.reversal = reversal or None
            row.status = "decided"
            row.assignee_id = user.id
            row.decided_at = now
            sync_case_tags(s, row)
            s.add(CaseDecisionRow(case_id=case_id, user_id=user.id, username=user.username, outcome=outcome,
                                  labels=[], bank_name=None, entries_added=0, note=note[:2000], created_at=now,
                                  actions=[], entry_ids=[]))
            verdict = "allow" if reversal.get("item_restored") else item.verdict.verdict
            decision_id, _, queued = self.actions.apply(
                s, item, [], verdict=verdict, facts={"case_id": case_id, "appeal_id": appeal.id},
                reasons=[f"appeal #{appeal.id} {outcome}"],
                events=[*events, ("appeal.decided", {"appeal_id": appeal.id, "item_id": item.id,
                                                     "account_id": item.account_id, "outcome": outcome,
                                                     "reversal": reversal or None})])
            if outcome == "upheld":
                s.execute(update(ItemRow).where(ItemRow.id == item.id).values(verdict=verdict))
            record(s, user.username, "appeal.decide", "case", case_id,
                   {"appeal_id": appeal.id, "outcome": outcome, "reversal": reversal, "decision_id": decision_id})
            appeal_id = appeal.id
        if queued:
            self.events_queued()
        if entries and bank:
            self._remove_entries(bank, entries, user, appeal_id)
        return self.get(appeal_id)

    def _remove_entries(self, bank: str, entries: list[int], user: ConsoleUser, appeal_id: int) -> None:
        """Take the reversed decision's bank entries out of the bank and every index."""
        removed = []
        for entry_id in entries:
            try:
                self.remove_entry(bank, entry_id)
                removed.append(entry_id)
            except NotFound:
                continue  # deleted by hand since: nothing left to undo
        with self.db.session() as s:
            record(s, user.username, "bank.remove", "bank", bank, {"appeal_id": appeal_id, "entries": removed})


def _contested(s: Session, item_id: str) -> tuple[int | None, int, list[str], int | None]:
    """The newest decision that acted against an item: a reviewer's violating decision, else the rules'.

    Returns (case decision id, decisions row id, its labels, the case it was made on).
    """
    found = s.execute(
        select(CaseDecisionRow, CaseRow.id).join(CaseRow, CaseRow.id == CaseDecisionRow.case_id)
        .where(CaseRow.item_id == item_id, CaseRow.kind != "appeal", CaseDecisionRow.outcome == "violating")
        .order_by(CaseDecisionRow.id.desc()).limit(1)
    ).first()
    if found is not None:
        d, case_id = found
        if d.decision_id is not None:
            return d.id, d.decision_id, list(d.labels), case_id
    auto = s.scalar(select(DecisionRow).where(DecisionRow.item_id == item_id, DecisionRow.automated.is_(True),
                                              DecisionRow.verdict.in_(("block", "label")))
                    .order_by(DecisionRow.id.desc()).limit(1))
    if auto is None:
        raise Conflict("nothing to appeal: no decision acted against this item", code="nothing_to_appeal")
    source_case = s.scalar(select(CaseRow.id).where(CaseRow.item_id == item_id, CaseRow.kind != "appeal")
                           .order_by(CaseRow.id.desc()).limit(1))
    labels = sorted({lb for labels in s.scalars(select(MatchRow.labels).where(MatchRow.item_id == item_id))
                     for lb in labels})
    return None, auto.id, labels, source_case


def appeal_of_case(s: Session, case_id: int) -> dict[str, Any] | None:
    """:meth:`AppealService.for_case` in the caller's transaction (the case page reads everything in one)."""
    row = s.scalar(select(AppealRow).where(AppealRow.case_id == case_id))
    if row is None:
        return None
    out = appeal_dict(row)
    d = s.get(CaseDecisionRow, row.case_decision_id) if row.case_decision_id else None
    if d is not None:
        out["contested"] = {"by": d.username, "outcome": d.outcome, "labels": d.labels,
                            "actions": d.actions or [], "bank": d.bank_name, "entries": d.entry_ids or [],
                            "case_id": d.case_id, "reasons": [], "at": d.created_at}
        return out
    auto = s.get(DecisionRow, row.decision_id) if row.decision_id else None
    labels = sorted({lb for labels in s.scalars(select(MatchRow.labels).where(MatchRow.item_id == row.item_id))
                     for lb in labels})
    out["contested"] = {
        "by": "automated rules", "outcome": f"verdict {auto.verdict}" if auto else "",
        "labels": labels, "actions": [{"type": a.get("type", "?"), **(a.get("params") or {})}
                                      for a in (auto.actions if auto else [])],
        "bank": None, "entries": [], "case_id": None,
        "reasons": list(auto.reasons) if auto else [], "at": auto.created_at if auto else None}
    return out
