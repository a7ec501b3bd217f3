"""The events a webhook can subscribe to, and the envelope every one is sent in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

EVENT_TYPES: dict[str, str] = {
    "item.verdict": "An item was decided (every automated decision, with its actions and reasons).",
    "item.redecided": "Stage 2 (OCR…) of an upload found more and decided it again: new verdict, matches, actions.",
    "item.removed": "A published item must be taken down (decided after upload, or by a later decision).",
    "item.retro_match": "A past item matched a bank entry added after it was received, and was decided again "
                        "(an item a person decided about keeps that decision and may go back to review).",
    "item.labelled": "An item is to be shown behind a warning label (its text is in the event).",
    "item.escalated": "An imminent threat: urgent review and a person should be alerted now.",
    "account.strike": "An account got a strike.",
    "account.suspended": "An account was suspended, temporarily or for good.",
    "account.appealed": "An account appealed a decision.",
    "case.decided": "A reviewer decided a case (outcome, labels, the actions carried out).",
    "item.restored": "A removed or labelled item may be shown again: an appeal against its decision was upheld.",
    "account.strike_withdrawn": "A strike was withdrawn because an appeal against its decision was upheld.",
    "account.unsuspended": "A suspension was lifted because the decision behind it was reversed on appeal.",
    "appeal.decided": "An appeal was decided: upheld (actions reversed) or rejected (the decision stands).",
    "report.received": "A user report opened (or joined) a review case.",
    "account.reappearance": "A new account looks like a suspended one come back (candidates and evidence).",
    "removal_order.received": "A TCO removal order arrived: its URLs must be removed within the hour.",
    "removal_order.alert": "A removal order's hour is running out (30, 45, 55 minutes; 60 = overdue).",
    "removal_order.removed": "A removal order was executed (the removal time is in the event).",
    "removal_order.paused": "A removal order cannot be executed yet; its Annex III answer is in the event.",
    "removal_order.resumed": "A paused removal order's hour restarted (obstacle ended or clarification received).",
    "removal_order.reversed": "A removal order lost its effect on scrutiny (Art. 4): reinstate its content.",
    "uploader.notice": "A notice to give the uploader about a removal (reasons, right to complain).",
}


def envelope(event_type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return {"type": event_type, "timestamp": at.isoformat(), "data": data}
