"""Which part of a text post matched: the links and domains a bank entry named, marked for the reviewer.

A text can match as a whole (``text_minhash``, ``text_sha256``) or through a link in it (``url``,
``url_prefix``, ``domain``). For the latter the reviewer should not have to hunt through a long post
for the one link that made it match, so the words that carry a matched host are marked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from seawall.errors import InvalidInput
from seawall.normalize.urls import canonicalize_url

LINK_SIGNALS = ("url", "url_prefix", "domain")
_WORD = re.compile(r"\S+")


def _host(signal_type: str, value: str) -> str | None:
    if signal_type == "domain":
        return value.strip().lower().removeprefix("www.") or None
    try:
        return canonicalize_url(value).host
    except InvalidInput:
        return None


def text_spans(text: str, entries: Iterable[dict[str, Any]]) -> list[tuple[str, bool]] | None:
    """The text cut into (piece, matched) parts, or None when no link-type entry matched it."""
    hosts = set()
    for e in entries:
        if e.get("signal_type") in LINK_SIGNALS and e.get("value"):
            host = _host(str(e["signal_type"]), str(e["value"]))
            if host:
                hosts.add(host)
    if not hosts:
        return None
    parts: list[tuple[str, bool]] = []
    at = 0
    for m in _WORD.finditer(text):
        word = m.group(0).lower().replace("[.]", ".").replace("(.)", ".")
        if any(h in word for h in hosts):
            if m.start() > at:
                parts.append((text[at:m.start()], False))
            parts.append((m.group(0), True))
            at = m.end()
    if at < len(text):
        parts.append((text[at:], False))
    return parts if any(hit for _, hit in parts) else None
