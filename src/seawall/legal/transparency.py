"""Transparency report figures (TCO Art. 7(3); DSA Art. 15 and 24) computed from the store for a period.

Every figure is counted from records Seawall keeps — orders and their clock log, decisions and their
actions, reports, appeals, suspensions, statements — so the report can be recomputed and checked.
What Seawall cannot know (review proceedings the provider brought in court, staff training,
monthly active users) is reported as ``None`` with a note, never as a made-up zero.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from seawall.errors import InvalidInput
from seawall.legal.clock import as_utc
from seawall.legal.deadline import within_hour
from seawall.store.db import Database
from seawall.store.tables import (
    ActionRow,
    AppealRow,
    CaseDecisionRow,
    CaseRow,
    DecisionRow,
    MatchRow,
    PreservedContentRow,
    RemovalOrderEventRow,
    RemovalOrderRow,
    ReportRow,
    StatementRow,
    SuspensionRow,
)

RESTRICTIONS = ("remove", "block", "label", "suspend")

MEASURES = (
    "Uploads are checked at upload time against hash lists of known terrorist content (PDQ, vPDQ, MD5/SHA-256, "
    "text and URL signals) shared by industry and partner platforms; matches are blocked, removed, labelled or "
    "sent to trained reviewers according to written rules.",
    "Unknown material is routed to human reviewers with a service-level clock; reviewers' decisions add the "
    "material to the hash lists so that it cannot re-appear (re-upload detection), and closed accounts are "
    "watched for re-appearance.",
    "Automated decisions are subject to human oversight: every automated restriction can be appealed and is "
    "decided by a different senior reviewer.",
)
EXEMPTIONS = ("Micro and small enterprises that are not very large online platforms are exempt from DSA Art. 15 "
              "reporting and from Section 3 (Art. 20–28) except Art. 24(3) (DSA Art. 19); the TCO Art. 7 report "
              "is owed by every hosting service provider that acted against terrorist content in the year.")


def _median_minutes(deltas: list[float]) -> float | None:
    return round(statistics.median(deltas) / 60, 2) if deltas else None


def _span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise InvalidInput("the period must end after it starts (--to after --from)", code="invalid_period")
    return start, end


def _detection(action: Any, matched_items: set[str]) -> str:
    """How the restricted content was found: a hash match, a user report seen by a reviewer, or other rules."""
    if action.item_id in matched_items:
        return "hash match"
    facts = action.facts if isinstance(action.facts, dict) else {}
    return "user report / reviewer" if facts.get("case_id") else "rules"


def compute(db: Database, start: datetime, end: datetime, *, provider: str = "") -> dict[str, Any]:
    """Every figure for ``[start, end)``, grouped by the article that asks for it."""
    start, end = _span(start, end)
    with db.session() as s:
        orders = list(s.scalars(select(RemovalOrderRow).where(RemovalOrderRow.received_at >= start,
                                                              RemovalOrderRow.received_at < end)))
        order_ids = [o.id for o in orders]
        paused = list(s.scalars(select(RemovalOrderEventRow).where(
            RemovalOrderEventRow.order_id.in_(order_ids), RemovalOrderEventRow.kind == "paused"))) if order_ids else []
        actions = s.execute(select(ActionRow.decision_id, ActionRow.type, ActionRow.rule_id, DecisionRow.automated,
                                   DecisionRow.item_id, DecisionRow.facts)
                            .join(DecisionRow, DecisionRow.id == ActionRow.decision_id)
                            .where(ActionRow.created_at >= start, ActionRow.created_at < end,
                                   ActionRow.status == "done", ActionRow.type.in_(RESTRICTIONS))).all()
        matched_items = set(s.scalars(select(MatchRow.item_id).where(
            MatchRow.item_id.in_({a.item_id for a in actions})))) if actions else set()
        reports = list(s.scalars(select(ReportRow).where(ReportRow.created_at >= start, ReportRow.created_at < end)))
        report_cases = {r.case_id for r in reports}
        case_decided = dict(s.execute(select(CaseRow.id, CaseRow.decided_at).where(CaseRow.id.in_(report_cases)))
                            .tuples().all()) if report_cases else {}
        report_outcomes = Counter(s.scalars(select(CaseDecisionRow.outcome).where(
            CaseDecisionRow.case_id.in_(report_cases)))) if report_cases else Counter()
        appeals = list(s.scalars(select(AppealRow).where(AppealRow.created_at >= start, AppealRow.created_at < end)))
        automated_decisions = {d for d, in s.execute(select(DecisionRow.id).where(
            DecisionRow.automated.is_(True), DecisionRow.created_at >= start, DecisionRow.created_at < end))}
        suspensions = Counter(s.scalars(select(SuspensionRow.kind).where(SuspensionRow.starts_at >= start,
                                                                         SuspensionRow.starts_at < end)))
        statements = Counter(s.scalars(select(StatementRow.status).where(StatementRow.created_at >= start,
                                                                         StatementRow.created_at < end)))
        preserved = int(s.scalar(select(func.count()).select_from(PreservedContentRow).where(
            PreservedContentRow.preserved_at >= start, PreservedContentRow.preserved_at < end)) or 0)

    # --- removal orders (TCO Art. 7(3)(c), (f); DSA Art. 15(1)(a)) ---------------------------------
    executed = [o for o in orders if o.removed_at is not None]
    not_executed = Counter(str(e.detail.get("reason")) for e in paused)
    by_state: dict[str, dict[str, Any]] = {}
    for state in sorted({o.issuing_state or "unknown" for o in orders}):
        mine = [o for o in orders if (o.issuing_state or "unknown") == state]
        effect = [(as_utc(o.removed_at) - as_utc(o.received_at)).total_seconds() for o in mine if o.removed_at]
        by_state[state] = {"orders": len(mine), "executed": len(effect),
                           "median_minutes_to_effect": _median_minutes(effect),
                           "median_minutes_to_confirm_receipt": 0.0 if mine else None}
    within = sum(1 for o in executed
                 if o.clock_started_at and o.removed_at and within_hour(o.clock_started_at, o.removed_at))
    order_items = sum(len(o.items) for o in executed)
    reversed_orders = [o for o in orders if o.status == "reversed"]

    # --- own-initiative measures (specific measures; DSA Art. 15(1)(c)) ---------------------------------
    own = [a for a in actions if not (a.rule_id or "").startswith("removal_order:")]
    by_type = Counter(a.type for a in own)
    by_detection = Counter(_detection(a, matched_items) for a in own)
    by_decider = Counter("automated" if a.automated else "human reviewer" for a in own)
    removed_items = len({a.item_id for a in own if a.type in ("remove", "block")})

    # --- complaints (TCO Art. 10; DSA Art. 20) -------------------------------------------------------
    outcomes = Counter(a.outcome or "pending" for a in appeals)
    decide_secs = [(as_utc(a.decided_at) - as_utc(a.created_at)).total_seconds() for a in appeals
                   if a.decided_at is not None]
    upheld_auto = sum(1 for a in appeals if a.outcome == "upheld" and a.decision_id in automated_decisions)
    automated_restrictions = len({a.decision_id for a in own if a.automated})

    # --- notices (DSA Art. 15(1)(b)) ---------------------------------------------------------------
    act_secs = [(as_utc(decided) - as_utc(r.created_at)).total_seconds()
                for r in reports if (decided := case_decided.get(r.case_id)) is not None]

    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()}, "provider": provider,
        "tco": {
            "a_measures": list(MEASURES[:1]), "b_reappearance_measures": list(MEASURES[1:]),
            "c_items_removed_after_orders": order_items,
            "c_items_removed_by_specific_measures": removed_items,
            "c_orders_received": len(orders), "c_orders_executed": len(executed),
            "c_orders_executed_within_hour": within,
            "c_orders_not_executed": dict(not_executed),
            "d_complaints": len(appeals), "d_complaint_outcomes": dict(outcomes),
            "e_review_proceedings_by_provider": None,
            "f_reinstated_after_proceedings": sum(len(o.items) for o in reversed_orders),
            "f_orders_reversed_on_scrutiny": len(reversed_orders),
            "g_reinstated_after_complaints": outcomes.get("upheld", 0),
            "preserved_items": preserved,
            "notes": {"e_review_proceedings_by_provider": "court and administrative proceedings are not recorded "
                                                         "in Seawall; add them by hand"},
        },
        "dsa": {
            "orders_by_member_state": by_state,
            "notices": {"received": len(reports), "by_category": dict(Counter(r.category for r in reports)),
                        "trusted_flaggers": None, "outcomes": dict(report_outcomes),
                        "median_minutes_to_act": _median_minutes(act_secs)},
            "own_initiative": {"by_restriction": dict(by_type), "by_detection_method": dict(by_detection),
                               "by_decider": dict(by_decider)},
            "complaints": {"received": len(appeals), "decided": len(decide_secs),
                           "reversed": outcomes.get("upheld", 0),
                           "median_minutes_to_decide": _median_minutes(decide_secs)},
            "automated_moderation": {
                "automated_restrictions": automated_restrictions,
                "reversed_on_appeal": upheld_auto,
                "error_rate_indicator": round(upheld_auto / automated_restrictions, 4) if automated_restrictions
                else None},
            "suspensions": dict(suspensions),
            "statements_of_reasons": dict(statements),
            "monthly_active_recipients": None,
            "notes": {"trusted_flaggers": "Seawall does not know which reporters are trusted flaggers",
                      "monthly_active_recipients": "the platform counts its own users (DSA Art. 24(2))"},
        },
        "exemptions": EXEMPTIONS,
    }
