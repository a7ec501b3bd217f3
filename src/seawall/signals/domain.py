"""Domain: a bank entry for a domain matches links to it and to all of its subdomains.

Entries may be a registrable domain (``example.co.uk``, found with the public-suffix list bundled in
``tldextract``) or any host below one (``channel.example.co.uk``). A bare public suffix (``com``,
``co.uk``, ``blogspot.com``) is refused: it would block a whole registry. Values are canonical hosts:
lowercase, IDNA (punycode), without ``www.``; a URL given as a value is reduced to its host.
Like ``url``, computed for queries only: the host of every link in a text item or in the text OCR reads in
an uploaded image.
"""

from __future__ import annotations

from seawall.errors import InvalidInput
from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import canonicalize_url, links_in
from seawall.normalize.urls import public_suffix
from seawall.signals.base import SignalType
from seawall.signals.link_values import link_signals


class DomainSignal(SignalType):
    name = "domain"
    seawall_only = True
    account_evidence = "domains"
    #: Images: links written in the picture, read by OCR (see :meth:`Content.signal_text`).
    content_types = ("text", "image")

    def normalize(self, value: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("domain must be a host name such as example.com", code="invalid_signal_value")
        try:
            host = canonicalize_url(value.strip()).host
        except InvalidInput as exc:
            raise InvalidInput(f"domain: {exc.message}", code="invalid_signal_value") from None
        if host.startswith("[") or host.replace(".", "").isdigit():
            return host  # an IP address
        if "." not in host or public_suffix(host) == host:
            raise InvalidInput(
                f"domain {host!r} is a public suffix: an entry for it would match every site under it",
                code="invalid_signal_value",
            )
        return host

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        return link_signals(self.name, content, lambda text: (cu.host for cu in links_in(text)), for_query=for_query)

    def distance(self, a: str, b: str) -> int:
        return 0 if a == b or a.endswith("." + b) or b.endswith("." + a) else 1

    def create_index(self) -> SignalIndex:
        from seawall.index.links import domain_index

        return domain_index()
