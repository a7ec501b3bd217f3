"""MD5 of a URL as python-threatexchange hashes it (``url_md5``), for partner lists shared that way.

Lists exchanged through ThreatExchange carry links as ``HASH_URL_MD5``: the MD5 of the URL lowercased,
its scheme (``https://``) removed, UTF-8 encoded. A hash cannot be canonicalised afterwards, so an upload
is hashed several ways: every link exactly as written in the text (defanged spellings undone), and each
link's canonical form with and without ``www.``. All forms are exact lookups; the few extra MD5s cost
nothing and cannot match anything but the same URL spelled another way.

Like ``url``, computed for queries only (a banked text does not bank the links it quotes).
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import links_in, refanged
from seawall.signals.base import hex_pattern
from seawall.signals.digest import DigestSignal
from seawall.signals.link_values import link_signals

#: Tokens that are links as written: with a scheme, or starting with ``www.``.
_WRITTEN = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>\"'«»]+")
_TRAILING = ".,;:!?)]}'\""
#: Links hashed per upload at most (each gives up to three forms), as for ``url``.
MAX_LINKS = 100


def pytx_url_md5(url: str) -> str:
    """The digest python-threatexchange gives a URL: MD5 of it lowercased, without its first ``scheme://``."""
    low = url.strip().lower()
    scheme, sep, rest = low.partition("://")
    if sep and re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        low = rest
    return hashlib.md5(low.encode("utf-8")).hexdigest()


def url_forms(text: str) -> list[str]:
    """Spellings of every link in a text whose pytx MD5 could be the banked one, without duplicates."""
    forms: list[str] = []
    for m in _WRITTEN.finditer(refanged(text)):
        forms.append(m.group(0).rstrip(_TRAILING))
        if len(forms) >= MAX_LINKS:
            break
    for cu in links_in(text)[:MAX_LINKS]:
        forms.append(cu.key)
        if not cu.host.startswith("www."):
            forms.append("www." + cu.key)
    return list(dict.fromkeys(forms))


class UrlMd5Signal(DigestSignal):
    name = "url_md5"
    algorithm = "md5"
    hex_length = 32
    value_pattern = hex_pattern(32)
    #: Images: links written in the picture, read by OCR (see :meth:`Content.signal_text`).
    content_types: ClassVar[tuple[str, ...]] = ("text", "image")  # type: ignore[assignment]

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        return link_signals(self.name, content, lambda text: (pytx_url_md5(form) for form in url_forms(text)),
                            for_query=for_query)
