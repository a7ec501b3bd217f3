"""URL prefix: a bank entry for ``host/path`` matches every link below that path.

For a channel, an account or a folder on a file host whose uploads change faster than anyone can list
them, while the rest of the host stays allowed. Prefixes end at ``/`` boundaries, so
``files.example/u/abc`` matches ``files.example/u/abc/clip.mp4`` but not ``files.example/u/abcd``.
The query string is ignored. Like ``url``, computed for queries only.
"""

from __future__ import annotations

from seawall.errors import InvalidInput
from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import canonicalize_url, links_in
from seawall.normalize.urls import CanonicalUrl
from seawall.signals.base import SignalType
from seawall.signals.link_values import link_signals


def _without_query(cu: CanonicalUrl) -> str:
    return f"{cu.scheme}://{cu.authority}{cu.path}"


class UrlPrefixSignal(SignalType):
    name = "url_prefix"
    seawall_only = True
    #: Images: links written in the picture, read by OCR (see :meth:`Content.signal_text`).
    content_types = ("text", "image")

    def normalize(self, value: str) -> str:
        if not isinstance(value, str):
            raise InvalidInput("url_prefix must be a string", code="invalid_signal_value")
        try:
            return _without_query(canonicalize_url(value))
        except InvalidInput as exc:
            raise InvalidInput(f"url_prefix: {exc.message}", code="invalid_signal_value") from None

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        return link_signals(self.name, content, lambda text: (_without_query(cu) for cu in links_in(text)),
                            for_query=for_query)

    def distance(self, a: str, b: str) -> int:
        pa, pb = canonicalize_url(a).path_prefixes()[-1], canonicalize_url(b).path_prefixes()
        return 0 if pa in pb else 1

    def create_index(self) -> SignalIndex:
        from seawall.index.links import url_prefix_index

        return url_prefix_index()
