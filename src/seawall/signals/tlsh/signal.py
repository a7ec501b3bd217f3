"""TLSH (Trend Micro locality-sensitive hash) of the de-obfuscated text, for texts of 50 bytes or more.

TLSH looks at the distribution of byte triplets rather than at shared shingles, so it complements
MinHash on longer texts whose wording was shuffled or lightly rewritten. It needs at least 50 bytes
and some variety (``py-tlsh`` returns no digest otherwise); shorter texts get no ``tlsh`` signal.

Value: the TLSH 4.x digest as printed by ``py-tlsh`` (``T1`` and 70 uppercase hex characters); a
digest without the ``T1`` version prefix is accepted and given one. Distance: ``tlsh.diff`` (0 for
identical, growing without a fixed bound; with the length term included).
"""

from __future__ import annotations

import re

import tlsh

from seawall.errors import InvalidInput
from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import matching_text
from seawall.signals.base import SignalType

MIN_BYTES = 50
_DIGEST = re.compile(r"^(?:T1)?([0-9A-F]{70})$")


def tlsh_digest(data: bytes) -> str | None:
    """Digest of the bytes, or None when TLSH cannot hash them (too short or too uniform)."""
    if len(data) < MIN_BYTES:
        return None
    h = tlsh.hash(data)
    if not h or h == "TNULL":
        return None
    return str(h).upper()


class TlshSignal(SignalType):
    name = "tlsh"
    seawall_only = True
    value_pattern = r"^\s*([Tt]1)?[0-9A-Fa-f]{70}\s*$"
    #: Images: the text OCR reads in an uploaded image (see :meth:`Content.signal_text`).
    content_types = ("text", "image")
    #: Measured in ``benchmarks/bench_text.py``: on generated texts sharing one vocabulary per language the
    #: nearest unrelated text was at 44, so 40 keeps false matches at zero; edited re-posts are mostly left
    #: to ``text_minhash`` (TLSH found 67% of variants at 40, MinHash 99.8% at 50).
    default_threshold = 40
    max_threshold = 300

    def normalize(self, value: str) -> str:
        v = value.strip().upper() if isinstance(value, str) else ""
        m = _DIGEST.match(v)
        if m is None:
            raise InvalidInput("tlsh must be 'T1' followed by 70 hexadecimal characters", code="invalid_signal_value")
        return "T1" + m.group(1)

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        text = content.signal_text(for_query=for_query)
        if not text:
            return []
        digest = tlsh_digest(matching_text(text).encode("utf-8"))
        return [ComputedSignal(type=self.name, value=digest)] if digest else []

    def distance(self, a: str, b: str) -> int:
        return int(tlsh.diff(a, b))

    def create_index(self) -> SignalIndex:
        from seawall.signals.tlsh.index import TlshIndex

        return TlshIndex()
