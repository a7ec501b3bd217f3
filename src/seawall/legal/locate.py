"""Finding the content an order names among the items Seawall has seen.

An order names content by URL, which Seawall does not own: the platform's connector maps URLs to
its content. Seawall can still find the item when the platform used the URL (or the id in it) as the
item's ``content_id``, recorded the URL in the item's context, or the authority gave the item or
content id as extra location information (Annex I section B).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from seawall.store.tables import ItemContentRow, ItemRow

URL_CONTEXT_KEYS = ("url", "permalink", "link")


def _url_forms(url: str) -> list[str]:
    """The URL and its last path segment (platforms often use that as their content id)."""
    forms = [url.strip()]
    tail = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if tail and len(tail) >= 6:
        forms.append(tail)
    return forms


def locate(s: Session, fields: dict[str, Any]) -> list[str]:
    """Item ids the order points at, oldest first, each once."""
    found: list[str] = []
    ids = [loc["item_id"] for loc in fields.get("locators", []) if loc.get("item_id")]
    content_ids = [loc["content_id"] for loc in fields.get("locators", []) if loc.get("content_id")]
    urls = list(fields.get("urls", []))
    for url in urls:
        content_ids.extend(_url_forms(url))
    conds = []
    if ids:
        conds.append(ItemRow.id.in_(ids))
    if content_ids:
        conds.append(ItemRow.content_id.in_(content_ids))
    if conds:
        found.extend(s.scalars(select(ItemRow.id).where(or_(*conds)).order_by(ItemRow.received_at)))
    if urls:
        wanted = {u.strip() for u in urls}
        for item_id, context in s.execute(select(ItemContentRow.item_id, ItemContentRow.context)):
            if isinstance(context, dict) and any(context.get(k) in wanted for k in URL_CONTEXT_KEYS):
                found.append(item_id)
    return list(dict.fromkeys(found))
