"""Exact URL: every link in a text item, or written in an uploaded image (read by OCR), canonicalised,
against URLs in the banks.

Canonical form (see :func:`seawall.normalize.urls.canonicalize_url`): defanged spellings undone,
lowercase IDNA host without ``www.``, no default port, fragment or tracking parameters, sorted query,
normalised percent-encoding. The same page over http and https is one match.

Links are computed for queries only: banking a text does not bank every link it contains (a
propaganda post may well link a news site); URLs are banked explicitly.
"""

from __future__ import annotations

from seawall.errors import InvalidInput
from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import canonicalize_url, links_in
from seawall.signals.base import SignalType
from seawall.signals.link_values import link_signals


class UrlSignal(SignalType):
    name = "url"
    #: Images: links written in the picture, read by OCR (see :meth:`Content.signal_text`).
    content_types = ("text", "image")

    def normalize(self, value: str) -> str:
        if not isinstance(value, str):
            raise InvalidInput("url must be a string", code="invalid_signal_value")
        try:
            return canonicalize_url(value).url
        except InvalidInput as exc:
            raise InvalidInput(f"url: {exc.message}", code="invalid_signal_value") from None

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        return link_signals(self.name, content, lambda text: (cu.url for cu in links_in(text)), for_query=for_query)

    def distance(self, a: str, b: str) -> int:
        return 0 if canonicalize_url(a).key == canonicalize_url(b).key else 1

    def create_index(self) -> SignalIndex:
        from seawall.index.links import url_index

        return url_index()
