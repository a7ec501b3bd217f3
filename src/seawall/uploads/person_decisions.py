"""Whether a person has decided about an item: automation (stage 2, retro-matching) must not overrule them.

Why: a reviewer who judged an upload "not violating" (a news report, research, counter-speech), an appeal
that restored it, or a removal order, is a judgement made with context no hash or score has. When stage 2
or a new bank entry later finds something, that decision stands; what was found is recorded with it, and
retro-matching puts the item back in front of a reviewer instead of acting on it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.store.tables import CaseDecisionRow, CaseMediaRow, CaseRow, DecisionRow


def decided_by_a_person(s: Session, item_id: str) -> bool:
    """Whether a person (a reviewer, a removal order, an appeal) decided about the item after its upload.

    Every such decision is stored with ``automated = false`` (the upload's own decision is automated), and
    a decided case, an appeal's included, has its case decision even when it acted on nothing.
    """
    if s.scalar(select(DecisionRow.id).where(DecisionRow.item_id == item_id, DecisionRow.automated.is_(False))
                .limit(1)) is not None:
        return True
    return s.scalar(select(CaseDecisionRow.id).join(CaseRow, CaseRow.id == CaseDecisionRow.case_id)
                    .where(CaseRow.item_id == item_id).limit(1)) is not None


def reviewed_media(s: Session, item_id: str) -> bytes | None:
    """The media the item's latest case kept for its reviewers, for a new case about the same item."""
    return s.scalar(select(CaseMediaRow.data).join(CaseRow, CaseRow.id == CaseMediaRow.case_id)
                    .where(CaseRow.item_id == item_id).order_by(CaseRow.id.desc()).limit(1))
