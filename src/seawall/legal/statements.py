"""DSA Art. 17 statements of reasons: one for every restriction Seawall applies, by rules or reviewers.

Generated from what is stored — the decision, its actions, the item, the case it came from — by a
sweep (:func:`generate`) rather than inside the upload path, so uploads stay fast and a statement is
never lost to a crash: any restricting decision without a statement gets one on the next sweep, and
the unique ``decision_id`` and ``puid`` keys make the sweep safe to run on every node. Decisions
taken on a TCO removal order are skipped: Art. 17(5) excludes authority orders (they get the TCO
Art. 11 notice instead). Records carry no personal data: no account ids, no content, no names.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.legal import notices
from seawall.legal import sor_fields as F
from seawall.legal.clock import as_utc
from seawall.legal.settings import LegalSettings
from seawall.store.db import Database
from seawall.store.tables import (
    ActionRow,
    CaseRow,
    DecisionRow,
    ItemRow,
    MatchRow,
    RuntimeFlagRow,
    StatementRow,
    utcnow,
)
from seawall.store.upsert import insert_unless_exists

RESTRICTING = ("remove", "block", "label", "suspend", "strike")
VISIBILITY = {"remove": "DECISION_VISIBILITY_CONTENT_REMOVED", "block": "DECISION_VISIBILITY_CONTENT_DISABLED",
              "label": "DECISION_VISIBILITY_CONTENT_LABELLED"}
CONTENT_TYPE = {"image": "CONTENT_TYPE_IMAGE", "video": "CONTENT_TYPE_VIDEO", "text": "CONTENT_TYPE_TEXT"}
#: Extra categories for Seawall's behaviour labels (the main one is always public security).
LABEL_CATEGORY = {"behaviour:incitement": "STATEMENT_CATEGORY_VIOLENCE",
                  "behaviour:graphic_violence": "STATEMENT_CATEGORY_VIOLENCE",
                  "behaviour:imminent_threat": "STATEMENT_CATEGORY_VIOLENCE"}
MEASURE_WORDS = {"DECISION_VISIBILITY_CONTENT_REMOVED": "the content was removed",
                 "DECISION_VISIBILITY_CONTENT_DISABLED": "the content was not published (access disabled)",
                 "DECISION_VISIBILITY_CONTENT_LABELLED": "the content is shown behind a warning label",
                 "DECISION_ACCOUNT_SUSPENDED": "the account was suspended",
                 "DECISION_ACCOUNT_TERMINATED": "the account was terminated"}


def puid_for(settings: LegalSettings, decision_id: int) -> str:
    prefix = re.sub(r"[^a-zA-Z0-9-_]+", "-", settings.platform_name or "seawall").strip("-") or "seawall"
    return f"{prefix}-sor-{decision_id}"


def _day(when: datetime) -> str:
    return as_utc(when).date().isoformat()


def build(s: Session, decision: DecisionRow, actions: list[ActionRow],
          settings: LegalSettings) -> dict[str, Any] | None:
    """The Transparency Database record for one decision, or None if it restricted nothing."""
    done = [a for a in actions if a.status == "done" and a.type in RESTRICTING]
    visibility = sorted({VISIBILITY[a.type] for a in done if a.type in VISIBILITY})
    account: str | None = None
    account_end: str | None = None
    for a in done:
        suspension = a.result.get("suspension") if isinstance(a.result, dict) else None
        if suspension:
            permanent = suspension.get("kind") == "permanent"
            account = "DECISION_ACCOUNT_TERMINATED" if permanent else "DECISION_ACCOUNT_SUSPENDED"
            if not permanent and suspension.get("ends_at"):
                account_end = suspension["ends_at"][:10]
    if not visibility and account is None:
        return None
    item = s.get(ItemRow, decision.item_id)
    if item is None:
        return None
    case = None
    if isinstance(decision.facts, dict) and decision.facts.get("case_id"):
        case = s.get(CaseRow, int(decision.facts["case_id"]))
    labels = sorted({lb for ls in s.scalars(select(MatchRow.labels).where(MatchRow.item_id == item.id)) for lb in ls}
                    | set((decision.facts or {}).get("labels", []) if isinstance(decision.facts, dict) else []))
    matched = s.scalar(select(MatchRow.id).where(MatchRow.item_id == item.id).limit(1)) is not None
    reported = case is not None and case.source == "report"
    human = not decision.automated
    detection_auto = matched or (case is not None and case.source in ("queue", "escalate", "reappearance"))
    facts = []
    if matched:
        facts.append("The content matched known terrorist or violent extremist material in a hash list"
                     + (f" (labels: {', '.join(labels)})" if labels else "") + ".")
    if reported:
        facts.append("A user reported the content.")
    facts.append("A trained reviewer examined the content and confirmed the decision." if human
                 else "The decision was taken automatically by the platform's moderation rules.")
    measures = [MEASURE_WORDS[v] for v in visibility] + ([MEASURE_WORDS[account]] if account else [])
    facts.append("Measure: " + "; ".join(measures) + ".")
    scope = [c.strip().upper() for c in settings.territorial_scope.split(",") if c.strip()] or list(F.TERRITORIES)
    rec: dict[str, Any] = {
        "decision_ground": ("DECISION_GROUND_ILLEGAL_CONTENT" if settings.sor_ground == "illegal"
                            else "DECISION_GROUND_INCOMPATIBLE_CONTENT"),
        "decision_facts": " ".join(facts)[:5000],
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "category_specification": ["KEYWORD_TERRORIST_CONTENT"],
        "content_type": [CONTENT_TYPE.get(item.content_type, "CONTENT_TYPE_OTHER")],
        "content_date": _day(item.received_at),
        "application_date": _day(decision.created_at),
        "territorial_scope": scope,
        "source_type": "SOURCE_ARTICLE_16" if reported else "SOURCE_VOLUNTARY",
        "automated_detection": "Yes" if detection_auto else "No",
        "automated_decision": ("AUTOMATED_DECISION_FULLY" if not human else
                               "AUTOMATED_DECISION_PARTIALLY" if detection_auto else
                               "AUTOMATED_DECISION_NOT_AUTOMATED"),
        "puid": puid_for(settings, decision.id),
    }
    if visibility:
        rec["decision_visibility"] = visibility
    if account:
        rec["decision_account"] = account
        if account_end:
            rec["end_date_account_restriction"] = account_end
    if rec["content_type"] == ["CONTENT_TYPE_OTHER"]:
        rec["content_type_other"] = "file"
    extra = sorted({LABEL_CATEGORY[lb] for lb in labels if lb in LABEL_CATEGORY})
    if extra:
        rec["category_addition"] = extra
    if rec["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT":
        rec["illegal_content_legal_ground"] = "Regulation (EU) 2021/784, Article 2(7) (terrorist content)"
        rec["illegal_content_explanation"] = ("The content disseminates material that incites, solicits, "
                                              "instructs or threatens terrorist offences.")
    else:
        rec["incompatible_content_ground"] = settings.terms_ground[:500]
        rec["incompatible_content_explanation"] = ("The content is terrorist or violent extremist material, which "
                                                   "the terms of service do not allow.")
        rec["incompatible_content_illegal"] = "Yes"
        if settings.terms_url:
            rec["decision_ground_reference_url"] = settings.terms_url[:500]
    return rec


def user_text(rec: dict[str, Any], settings: LegalSettings) -> str:
    """The statement as the affected user reads it (Art. 17(3)(a)–(f))."""
    measures = [MEASURE_WORDS[v] for v in rec.get("decision_visibility", [])]
    if rec.get("decision_account"):
        measures.append(MEASURE_WORDS[rec["decision_account"]]
                        + (f" until {rec['end_date_account_restriction']}" if rec.get("end_date_account_restriction")
                           else ""))
    ground = (f"the law: {rec['illegal_content_legal_ground']}. {rec['illegal_content_explanation']}"
              if rec["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
              else f"our terms ({rec['incompatible_content_ground']}). {rec['incompatible_content_explanation']}")
    automated = {"AUTOMATED_DECISION_FULLY": "The decision was taken by automated means.",
                 "AUTOMATED_DECISION_PARTIALLY": "Automated means detected the content; a person decided.",
                 "AUTOMATED_DECISION_NOT_AUTOMATED": "A person decided without automated means."}
    return "\n".join([
        f"What we did: {'; '.join(measures)} (in {len(rec['territorial_scope'])} EU/EEA countries).",
        f"Why: {rec['decision_facts']}",
        ("Automated detection was used. " if rec["automated_detection"] == "Yes" else "")
        + automated[rec["automated_decision"]],
        f"Ground: {ground}",
        "Your options: you can complain to us free of charge for six months (we answer within "
        f"{settings.complaint_days} days), use a certified out-of-court dispute settlement body (DSA Art. 21), "
        "or go to court.",
    ])


CURSOR_FLAG = "legal.statements_cursor"
#: Action ids below the cursor still looked at, for transactions that committed after a newer id was seen.
LOOKBACK = 20_000


def start_cursor(db: Database) -> None:
    """On first start, begin after the newest action: restrictions decided before Seawall wrote statements
    are not announced again to their users years later. Nodes starting together write it once."""
    with db.session() as s:
        if s.get(RuntimeFlagRow, CURSOR_FLAG) is None:
            newest = int(s.scalar(select(func.max(ActionRow.id))) or 0)
            insert_unless_exists(s, RuntimeFlagRow, {"name": CURSOR_FLAG, "value": {"after": newest, "floor": newest},
                                                     "updated_by": "system", "updated_at": utcnow()}, ["name"])


def _candidates(s: Session, limit: int) -> tuple[list[int], dict[str, int] | None]:
    """Decisions with a restricting action and no statement yet (authority-order decisions excluded),
    read by action id from the cursor (an index range, never the whole table); returns the new cursor."""
    flag = s.get(RuntimeFlagRow, CURSOR_FLAG)
    value = flag.value if flag is not None and isinstance(flag.value, dict) else {}
    cursor, floor = int(value.get("after", 0)), int(value.get("floor", 0))
    has_statement = exists().where(StatementRow.decision_id == ActionRow.decision_id)
    rows = s.execute(select(ActionRow.id, ActionRow.decision_id)
                     .where(ActionRow.id > max(floor, cursor - LOOKBACK), ActionRow.type.in_(RESTRICTING),
                            ActionRow.status == "done",
                            or_(ActionRow.rule_id.is_(None), not_(ActionRow.rule_id.like("removal_order:%"))),
                            ~has_statement)
                     .order_by(ActionRow.id).limit(limit)).all()
    # a full page: continue after it next time; otherwise everything up to the newest action was seen
    newest = int(rows[-1][0]) if len(rows) == limit else int(s.scalar(select(func.max(ActionRow.id))) or 0)
    moved = {"after": newest, "floor": floor} if newest > cursor else None
    return list(dict.fromkeys(int(d) for _, d in rows)), moved


def generate(db: Database, settings: LegalSettings, now: datetime, *, limit: int = 1000) -> tuple[list[int], list[
        tuple[str, dict[str, Any]]]]:
    """Write the missing statements (and their user notices); returns their ids and the events to send."""
    made: list[int] = []
    events: list[tuple[str, dict[str, Any]]] = []
    try:
        with db.session() as s:
            candidates, cursor = _candidates(s, limit)
            if cursor is not None:
                s.merge(RuntimeFlagRow(name=CURSOR_FLAG, value=cursor, updated_by="system", updated_at=as_utc(now)))
            for decision_id in candidates:
                decision = s.get(DecisionRow, decision_id)
                if decision is None:
                    continue
                actions = list(s.scalars(select(ActionRow).where(ActionRow.decision_id == decision_id)))
                rec = build(s, decision, actions, settings)
                if rec is None:  # e.g. a strike that suspended nobody: remembered, so it is not looked at again
                    s.add(StatementRow(puid=f"{puid_for(settings, decision_id)}-none", decision_id=decision_id,
                                       item_id=decision.item_id, record={}, user_text="", created_at=as_utc(now),
                                       status="not_required"))
                    continue
                text = user_text(rec, settings)
                row = StatementRow(puid=rec["puid"], decision_id=decision_id, item_id=decision.item_id, record=rec,
                                   user_text=text, created_at=as_utc(now), status="pending")
                s.add(row)
                s.flush()
                made.append(row.id)
                if decision.account_id:
                    notice = notices.write(s, item_id=decision.item_id, account_id=decision.account_id, text=text,
                                           now=now, withheld_until=None, statement_id=row.id)
                    notice.released_at = as_utc(now)
                    events.append(("uploader.notice", notices.notice_dict(notice)))
    except IntegrityError:
        return [], []  # another node wrote some of them first; the next sweep picks up the rest
    return made, events


def statement_dict(row: StatementRow) -> dict[str, Any]:
    return {"id": row.id, "puid": row.puid, "decision_id": row.decision_id, "item_id": row.item_id,
            "status": row.status, "created_at": as_utc(row.created_at).isoformat(),
            "submitted_at": as_utc(row.submitted_at).isoformat() if row.submitted_at else None,
            "tdb_uuid": row.tdb_uuid, "error": row.error, "record": row.record, "user_text": row.user_text}
