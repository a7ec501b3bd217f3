"""SHA-256 of the de-obfuscated text: an exact match that survives look-alike letters, invisible
characters, Arabic vowel marks, leet, stretched letters, punctuation and spacing.

The plain ``sha256`` signal already covers byte-identical re-posts; this one catches the re-posts
whose bytes were changed only to dodge that digest.
"""

from __future__ import annotations

import hashlib
import re

from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import matching_text
from seawall.signals.base import SignalType, hex_pattern

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class TextSha256Signal(SignalType):
    name = "text_sha256"
    seawall_only = True
    value_pattern = hex_pattern(64)
    index_kind = "exact"
    #: Images: the text OCR reads in an uploaded image (see :meth:`Content.signal_text`).
    content_types = ("text", "image")

    def normalize(self, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if not _HEX64.match(v):
            raise InvalidInput(f"{self.name} must be 64 hexadecimal characters", code="invalid_signal_value")
        return v

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        text = content.signal_text(for_query=for_query)
        if not text:
            return []
        norm = matching_text(text)
        if not norm:
            return []
        return [ComputedSignal(type=self.name, value=text_sha256(norm))]

    def distance(self, a: str, b: str) -> int:
        return 0 if a == b else 1


def text_sha256(normalized: str) -> str:
    """Digest of an already normalised text (see :func:`seawall.normalize.normalize_text`)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()
