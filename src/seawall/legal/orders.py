"""TCO removal orders: receipt, the one-hour clock, removal through the normal action path, Annex III
pauses, Annex II feedback and Art. 4 reversal.

Removal runs Seawall's own ``remove`` action on every located item, inside one transaction with the
order's state: the decision, its ``item.removed`` events (which the platform's connector acts on),
the preserved copy (Art. 6) and the uploader notice (Art. 11) commit together or not at all. The
order's ``removal_order.received`` event carries the URLs, so a connector can also remove content
Seawall never saw and confirm it with ``POST /v1/removal-orders/{id}/removed``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.errors import Conflict, InvalidInput, NotFound, invalid_input_from
from seawall.legal import forms, notices, preservation
from seawall.legal.annex1 import Locator, RemovalOrderIn, manifest_errors, missing_fields, to_record
from seawall.legal.clock import Clock, as_utc, monotonic_after
from seawall.legal.deadline import IMPOSSIBILITY, due_alerts, state, within_hour
from seawall.legal.locate import locate
from seawall.legal.settings import LegalSettings
from seawall.models.records import Action
from seawall.review.audit import record
from seawall.review.reversal import reverse
from seawall.store.tables import ItemRow, RemovalOrderEventRow, RemovalOrderRow
from seawall.store.write_lock import take_write_lock

if TYPE_CHECKING:
    from seawall.accounts import AccountService
    from seawall.actions import ActionRunner
    from seawall.store.db import Database
    from seawall.uploads.ingest import ItemService
    from seawall.webhooks.outbox import Outbox

#: Art. 11(3): a non-disclosure decision without an end date lasts six weeks.
DEFAULT_EMBARGO = timedelta(weeks=6)
ORDER_STATUSES = ("running", "paused", "removed", "reversed")
INTAKE_CHANNELS = ("api", "console", "import")


def _iso(when: datetime | None) -> str | None:
    return as_utc(when).isoformat() if when else None


class OrderService:
    """Removal orders (TCO Art. 3–5, 11): intake, the one-hour removal, pauses, reversal, alerts.

    Given only what it touches: the store, the items it removes, the runner that records the removal
    as a decision, the accounts a reversal restores, the outbox its events go to, and ``events_queued``
    to wake the webhook sender after a commit that queued some.
    """

    def __init__(self, db: Database, *, items: ItemService, actions: ActionRunner, accounts: AccountService,
                 outbox: Outbox, events_queued: Callable[[], None], clock: Clock, settings: LegalSettings) -> None:
        self.db = db
        self.items = items
        self.actions = actions
        self.accounts = accounts
        self.outbox = outbox
        self.events_queued = events_queued
        self.clock = clock
        self.settings = settings

    # --- reading -------------------------------------------------------------------------------
    def _row(self, s: Session, order_id: int, *, lock: bool = False) -> RemovalOrderRow:
        q = select(RemovalOrderRow).where(RemovalOrderRow.id == order_id)
        if lock:
            take_write_lock(s)
        row = s.scalar(q.with_for_update() if lock else q)
        if row is None:
            raise NotFound(f"no removal order {order_id}", code="order_not_found")
        return row

    def _dict(self, s: Session, row: RemovalOrderRow, *, events: bool = True) -> dict[str, Any]:
        now = self.clock.now()
        clock = state(started_at=row.clock_started_at, paused=row.status == "paused",
                      done=row.status in ("removed", "reversed"), now=now)
        out: dict[str, Any] = {
            "id": row.id, "reference": row.reference, "issuing_state": row.issuing_state,
            "authority": row.authority_name, "status": row.status, "flags": list(row.flags),
            "received_at": _iso(row.received_at), "received_via": row.received_via,
            "received_source": row.received_source, "clock_epoch": row.clock_epoch,
            "clock_started_at": _iso(row.clock_started_at), "deadline_at": _iso(clock.deadline_at),
            "remaining_seconds": clock.remaining_seconds, "alert_level": clock.level, "overdue": clock.overdue,
            "paused_reason": row.paused_reason, "paused_at": _iso(row.paused_at), "removed_at": _iso(row.removed_at),
            "within_hour": (within_hour(row.clock_started_at, row.removed_at)
                            if row.removed_at and row.clock_started_at else None),
            "items": list(row.items), "do_not_inform": row.do_not_inform,
            "notify_embargo_until": _iso(row.notify_embargo_until), "reversed_at": _iso(row.reversed_at),
            "reversal": row.reversal, "fields": dict(row.fields),
        }
        if events:
            rows = s.scalars(select(RemovalOrderEventRow).where(RemovalOrderEventRow.order_id == row.id)
                             .order_by(RemovalOrderEventRow.id)).all()
            out["events"] = [{"at": _iso(e.at), "kind": e.kind, "epoch": e.epoch, "detail": e.detail} for e in rows]
        return out

    def get(self, order_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            return self._dict(s, self._row(s, order_id))

    def orders(self, *, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if status is not None and status not in ORDER_STATUSES:
            raise InvalidInput(f"status: one of {', '.join(ORDER_STATUSES)}", code="invalid_status")
        q = select(RemovalOrderRow).order_by(RemovalOrderRow.received_at.desc()).limit(limit)
        if status:
            q = q.where(RemovalOrderRow.status == status)
        with self.db.session() as s:
            return [self._dict(s, r, events=False) for r in s.scalars(q)]

    # --- the clock log -------------------------------------------------------------------------
    def _now(self, row: RemovalOrderRow) -> datetime:
        return monotonic_after(self.clock.now(), row.last_event_at)

    @staticmethod
    def _log(s: Session, row: RemovalOrderRow, kind: str, at: datetime, detail: dict[str, Any] | None = None) -> None:
        s.add(RemovalOrderEventRow(order_id=row.id, at=at, kind=kind, epoch=row.clock_epoch, detail=detail or {}))
        row.last_event_at = at
        s.flush()

    def _emit(self, s: Session, events: list[tuple[str, dict[str, Any]]]) -> int:
        return self.outbox.emit(s, events)

    @staticmethod
    def _summary(row: RemovalOrderRow) -> dict[str, Any]:
        return {"order_id": row.id, "reference": row.reference, "issuing_state": row.issuing_state,
                "authority": row.authority_name, "status": row.status,
                "urls": list(row.fields.get("urls", [])), "locators": list(row.fields.get("locators", [])),
                "received_at": _iso(row.received_at), "clock_started_at": _iso(row.clock_started_at),
                "deadline_at": _iso(as_utc(row.clock_started_at) + timedelta(hours=1)) if row.clock_started_at
                else None}

    # --- intake --------------------------------------------------------------------------------
    def receive(self, order: RemovalOrderIn, *, via: str, source: str, created_by: str) -> dict[str, Any]:
        """Store the order as received, start its hour (unless it cannot be acted on) and announce it.

        The receipt time is this server's clock at arrival. An order that cannot be acted on — the
        content is not identified, or the order has manifest errors — is stored, flagged, its hour
        held, and an Annex III answer is drafted asking for clarification.
        """
        if via not in INTAKE_CHANNELS:
            raise InvalidInput(f"via: one of {', '.join(INTAKE_CHANNELS)}", code="invalid_field")
        now = self.clock.now()
        missing = missing_fields(order)
        errors = manifest_errors(order, now)
        flags = [*(f"missing: {m}" for m in missing), *(f"error: {e}" for e in errors)]
        blocking = "errors" if errors else "missing" if "urls" in missing else None
        fields = to_record(order)
        embargo = None
        if order.do_not_inform:
            start = order.issued_at or now
            embargo = order.notify_embargo_until or (as_utc(start) + DEFAULT_EMBARGO)
        try:
            with self.db.session() as s:
                row = RemovalOrderRow(
                    reference=order.reference, issuing_state=(order.issuing_state or "").upper() or None,
                    authority_name=order.authority.name, fields=fields, flags=flags,
                    status="paused" if blocking else "running", received_at=now, received_via=via,
                    received_source=f"{source} (clock: {getattr(self.clock, 'source', 'server')})"[:300],
                    clock_epoch=0, clock_started_at=None if blocking else now, items=[],
                    do_not_inform=order.do_not_inform, notify_embargo_until=as_utc(embargo) if embargo else None,
                    last_event_at=now, created_by=created_by[:100])
                s.add(row)
                s.flush()
                self._log(s, row, "received", now, {"via": via, "source": source, "flags": flags})
                events: list[tuple[str, dict[str, Any]]] = [("removal_order.received", self._summary(row))]
                if blocking:
                    reason = "manifest_errors" if blocking == "errors" else "insufficient_information"
                    events.append(self._pause(s, row, now, reason=reason, actor="system",
                                              explanation="; ".join(flags),
                                              clarification="please send the missing or corrected fields: "
                                              + "; ".join(flags)))
                record(s, created_by, "removal_order.receive", "removal_order", row.id,
                       {"via": via, "flags": flags})
                order_id = row.id
                queued = self._emit(s, events)
        except IntegrityError:
            raise Conflict("this order (issuing state, authority and reference) was already received",
                           code="order_exists") from None
        if queued:
            self.events_queued()
        if not blocking and self.settings.auto_execute:
            try:
                return self.execute(order_id, actor="system")
            except Conflict:
                pass  # not found among Seawall's items: the connector removes it by URL and confirms
        return self.get(order_id)

    # --- acting --------------------------------------------------------------------------------
    def _embargo(self, row: RemovalOrderRow) -> datetime | None:
        return as_utc(row.notify_embargo_until) if row.do_not_inform and row.notify_embargo_until else None

    def execute(self, order_id: int, *, actor: str, locators: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Remove every item the order points at, through the ``remove`` action, and stop the clock."""
        extra = [Locator.model_validate(loc).model_dump() for loc in (locators or [])]
        with self.db.session() as s:
            row = self._row(s, order_id, lock=True)
            if row.status in ("removed", "reversed"):
                raise Conflict(f"the order is already {row.status}", code=f"order_{row.status}")
            fields = {**row.fields, "locators": [*row.fields.get("locators", []), *extra]}
            item_ids = locate(s, fields)
            if not item_ids:
                raise Conflict("none of Seawall's items matches the order's URLs or locators; remove the content "
                               "on the platform and confirm with POST /v1/removal-orders/{id}/removed",
                               code="content_not_found")
            now = self._now(row)
            done: list[dict[str, Any]] = []
            events: list[tuple[str, dict[str, Any]]] = []
            queued = 0
            for item_id in item_ids:
                item = self.items.get(item_id)
                prior = item.verdict.verdict
                decision_id, _, q = self.actions.apply(
                    s, item, [Action("remove", {}, f"removal_order:{row.id}")], verdict="block",
                    reasons=[f"TCO removal order #{row.id} (reference {row.reference or 'none'}, "
                             f"{row.issuing_state or '?'})"],
                    facts={"removal_order_id": row.id}, events=[])
                queued += q
                s.execute(update(ItemRow).where(ItemRow.id == item.id).values(verdict="block")
                          .execution_options(synchronize_session=False))
                preservation.preserve(s, item.id, basis="removal_order", now=now,
                                      days=self.settings.preservation_days, order_id=row.id)
                notice = notices.write(s, item_id=item.id, account_id=item.account_id, order_id=row.id, now=now,
                                       text=notices.order_notice_text(row.fields,
                                                                      complaint_days=self.settings.complaint_days),
                                       withheld_until=self._embargo(row))
                if item.account_id and notices.releasable(notice, now):
                    notice.released_at = now
                    events.append(("uploader.notice", notices.notice_dict(notice)))
                done.append({"item_id": item.id, "decision_id": decision_id, "prior_verdict": prior})
            row.items = [*row.items, *done]
            row.fields = fields
            row.status = "removed"
            row.removed_at = now
            row.paused_reason = None
            self._log(s, row, "removed", now, {"items": [d["item_id"] for d in done], "by": actor})
            record(s, actor, "removal_order.execute", "removal_order", row.id, {"items": done})
            events.insert(0, ("removal_order.removed", {**self._summary(row), "removed_at": _iso(now),
                                                         "items": [d["item_id"] for d in done]}))
            queued += self._emit(s, events)
        if queued:
            self.events_queued()
        return self.get(order_id)

    def confirm_removed(self, order_id: int, *, actor: str) -> dict[str, Any]:
        """The platform removed content Seawall does not hold; the removal time is this server's clock."""
        with self.db.session() as s:
            row = self._row(s, order_id, lock=True)
            if row.status in ("removed", "reversed"):
                raise Conflict(f"the order is already {row.status}", code=f"order_{row.status}")
            now = self._now(row)
            row.status = "removed"
            row.removed_at = now
            self._log(s, row, "removed", now, {"items": [], "by": actor, "confirmed_by_platform": True})
            record(s, actor, "removal_order.confirm", "removal_order", row.id, {})
            queued = self._emit(s, [("removal_order.removed", {**self._summary(row), "removed_at": _iso(now),
                                                                "items": []})])
        if queued:
            self.events_queued()
        return self.get(order_id)

    # --- Annex III: the clock pauses --------------------------------------------------------------
    def _pause(self, s: Session, row: RemovalOrderRow, now: datetime, *, reason: str, actor: str,
               explanation: str, clarification: str) -> tuple[str, dict[str, Any]]:
        row.status = "paused"
        row.paused_reason = reason
        row.paused_at = now
        order = self._dict(s, row, events=False)
        form = forms.annex3(order, self.settings, now, reason=reason, explanation=explanation,
                            clarification=clarification)
        try:
            with s.begin_nested():
                self._log(s, row, "paused", now, {"reason": reason, "by": actor, "annex_iii": form})
        except IntegrityError:
            raise Conflict("the order's clock is already paused for this period; resume it first",
                           code="already_paused") from None
        return ("removal_order.paused", {**self._summary(row), "reason": reason, "annex_iii": form})

    def impossible(self, order_id: int, *, reason: str, explanation: str, clarification: str = "",
                   actor: str) -> dict[str, Any]:
        """Annex III: tell the authority the order cannot be executed yet; the hour stops until resumed."""
        if reason not in IMPOSSIBILITY:
            raise InvalidInput(f"reason: one of {', '.join(IMPOSSIBILITY)}", code="invalid_reason")
        if not explanation.strip():
            raise InvalidInput("explanation: say what prevents execution", code="invalid_field")
        if reason != "force_majeure" and not clarification.strip():
            raise InvalidInput("clarification: say which errors or what information the authority must send",
                               code="invalid_field")
        with self.db.session() as s:
            row = self._row(s, order_id, lock=True)
            if row.status != "running":
                raise Conflict(f"only a running order can be answered with Annex III (this one is {row.status})",
                               code="order_not_running")
            now = self._now(row)
            event = self._pause(s, row, now, reason=reason, actor=actor, explanation=explanation[:5000],
                                clarification=clarification[:5000])
            record(s, actor, "removal_order.impossible", "removal_order", row.id, {"reason": reason})
            queued = self._emit(s, [event])
        if queued:
            self.events_queued()
        return self.get(order_id)

    def resume(self, order_id: int, *, actor: str, corrections: dict[str, Any] | None = None) -> dict[str, Any]:
        """The obstacle ended or the clarification arrived: a new hour starts now (Art. 3(7), 3(8))."""
        with self.db.session() as s:
            row = self._row(s, order_id, lock=True)
            if row.status != "paused":
                raise Conflict("only a paused order can be resumed", code="order_not_paused")
            fields = dict(row.fields)
            if corrections:
                try:
                    order = RemovalOrderIn.model_validate({**fields, **corrections})
                except ValidationError as exc:
                    raise invalid_input_from(exc) from None
                fields = to_record(order)
            now = self._now(row)
            order = RemovalOrderIn.model_validate(fields)
            errors = manifest_errors(order, as_utc(row.received_at))
            missing = missing_fields(order)
            if errors or "urls" in missing:
                raise InvalidInput("the order still cannot be acted on: " + "; ".join(errors or ["no URL"]),
                                   code="order_still_blocked")
            trigger = IMPOSSIBILITY[row.paused_reason or "insufficient_information"]
            row.fields = fields
            row.flags = [*(f"missing: {m}" for m in missing)]
            row.reference = order.reference
            row.authority_name = order.authority.name
            row.issuing_state = (order.issuing_state or "").upper() or None
            row.clock_epoch += 1
            row.clock_started_at = now
            row.status = "running"
            row.paused_reason = None
            self._log(s, row, "resumed", now, {"trigger": trigger, "by": actor, "corrected": sorted(corrections or {})})
            record(s, actor, "removal_order.resume", "removal_order", row.id, {"trigger": trigger})
            queued = self._emit(s, [("removal_order.resumed", {**self._summary(row), "trigger": trigger})])
        if queued:
            self.events_queued()
        if self.settings.auto_execute:
            try:
                return self.execute(order_id, actor="system")
            except Conflict:
                pass
        return self.get(order_id)

    # --- forms ---------------------------------------------------------------------------------
    def annex2(self, order_id: int) -> dict[str, Any]:
        """Annex II feedback; only once the content is removed (its time is the removal time)."""
        with self.db.session() as s:
            row = self._row(s, order_id, lock=True)
            if row.status != "removed":
                raise Conflict("Annex II is sent after removal; this order is " + row.status,
                               code="order_not_removed")
            now = self._now(row)
            form = forms.annex2(self._dict(s, row, events=False), self.settings, now)
            existing = s.scalar(select(RemovalOrderEventRow).where(RemovalOrderEventRow.order_id == row.id,
                                                                   RemovalOrderEventRow.kind == "annex_ii"))
            if existing is None:
                self._log(s, row, "annex_ii", now, {"annex_ii": form})
                return form
            return dict(existing.detail["annex_ii"])

    def annex3(self, order_id: int) -> dict[str, Any]:
        """The newest Annex III answer for this order."""
        with self.db.session() as s:
            row = self._row(s, order_id)
            ev = s.scalar(select(RemovalOrderEventRow).where(RemovalOrderEventRow.order_id == row.id,
                                                             RemovalOrderEventRow.kind == "paused")
                          .order_by(RemovalOrderEventRow.id.desc()).limit(1))
            if ev is None:
                raise NotFound("no Annex III answer was made for this order", code="no_annex_iii")
            return dict(ev.detail["annex_iii"])

    # --- Art. 4: scrutiny found the order infringes the Regulation ------------------------------------
    def reverse(self, order_id: int, *, actor: str, decided_by: str, reason: str) -> dict[str, Any]:
        """Art. 4(7): the order lost its legal effect; reinstate the content at once."""
        if not decided_by.strip():
            raise InvalidInput("decided_by: name the authority whose scrutiny found the infringement",
                               code="invalid_field")
        with self.db.session() as s:
            row = self._row(s, order_id, lock=True)
            if row.status == "reversed":
                raise Conflict("the order was already reversed", code="order_reversed")
            now = self._now(row)
            events: list[tuple[str, dict[str, Any]]] = []
            restored = []
            for entry in row.items:
                item = self.items.get(entry["item_id"])
                _, evs = reverse(s, self.accounts, int(entry["decision_id"]), item,
                                 why=f"removal order #{row.id} reversed on scrutiny by {decided_by}")
                events.extend(evs)
                s.execute(update(ItemRow).where(ItemRow.id == item.id)
                          .values(verdict=entry.get("prior_verdict") or "allow")
                          .execution_options(synchronize_session=False))
                restored.append(item.id)
            row.status = "reversed"
            row.reversed_at = now
            row.reversal = {"decided_by": decided_by[:300], "reason": reason[:2000], "restored": restored,
                            "platform_reinstates_urls": list(row.fields.get("urls", []))}
            self._log(s, row, "reversed", now, row.reversal)
            record(s, actor, "removal_order.reverse", "removal_order", row.id, row.reversal)
            events.append(("removal_order.reversed", {**self._summary(row), **row.reversal}))
            queued = self._emit(s, events)
        if queued:
            self.events_queued()
        return self.get(order_id)

    # --- alerts --------------------------------------------------------------------------------
    def alert(self) -> list[dict[str, Any]]:
        """Send the 30/45/55/60-minute alerts now due; each goes out once per clock epoch (a unique key)."""
        now = self.clock.now()
        with self.db.session() as s:
            running = s.execute(select(RemovalOrderRow.id, RemovalOrderRow.clock_started_at)
                                .where(RemovalOrderRow.status == "running",
                                       RemovalOrderRow.clock_started_at.is_not(None))).all()
        sent: list[dict[str, Any]] = []
        for order_id, started in running:
            if started is None or not due_alerts(started, now, set()):
                continue
            try:
                with self.db.session() as s:
                    row = self._row(s, order_id, lock=True)
                    if row.status != "running" or row.clock_started_at is None:
                        continue
                    done = {int(k.split("_")[1]) for k in s.scalars(
                        select(RemovalOrderEventRow.kind).where(RemovalOrderEventRow.order_id == row.id,
                                                                RemovalOrderEventRow.epoch == row.clock_epoch,
                                                                RemovalOrderEventRow.kind.like("alert_%")))}
                    at = self._now(row)
                    events = []
                    for minutes in due_alerts(row.clock_started_at, now, done):
                        clock = state(started_at=row.clock_started_at, paused=False, done=False, now=at)
                        data = {**self._summary(row), "minutes": minutes, "overdue": clock.overdue,
                                "remaining_seconds": clock.remaining_seconds}
                        self._log(s, row, f"alert_{minutes}", at, {"minutes": minutes})
                        events.append(("removal_order.alert", data))
                        sent.append(data)
                    queued = self._emit(s, events)
            except IntegrityError:
                continue  # another node sent it first
            if queued:
                self.events_queued()
        return sent
