"""A re-appearance alert put in front of reviewers, as a case on the new account's newest item.

A reviewer judging the case sees the candidate old account and the evidence in its reason and can
suspend the new account through the usual decision. An account known only from a profile (nothing
uploaded yet) has no item to review: its alert stays an API record and a webhook event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.models.records import Item
from seawall.review.cases import open_case
from seawall.store.tables import ItemRow


def open_reappearance_case(s: Session, account_id: str, alert: dict[str, Any], *,
                           load_item: Callable[[str], Item]) -> None:
    """Open the case in the alert's transaction (the ``on_alert`` of the re-appearance service)."""
    item_id = s.scalar(select(ItemRow.id).where(ItemRow.account_id == account_id)
                       .order_by(ItemRow.received_at.desc()).limit(1))
    if item_id is None:
        return
    top = alert["candidates"][0]
    reason = (f"re-appearance: account {account_id} resembles suspended account {top['account_id']} "
              f"(score {top['score']:.2f}; evidence: {', '.join(sorted(top.get('evidence', {})))}; "
              f"alert {alert['id']})")
    open_case(s, load_item(item_id), source="reappearance", reason=reason, tier="high", media=None)
