"""``example_crc32``: CRC-32 of a note's text, stored case-folded, queried as sent and case-folded.

Shows the parts of a signal type: normalisation (what a bank may store), computation (from which
content types), distance, query variants with names (so a match says it went through ``casefold``)
and the index (the built-in exact index here; a signal with another layout overrides
``create_index``).
"""

from __future__ import annotations

import re
import zlib
from typing import ClassVar

from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.base import SignalType

CONTENT_TYPE = "example_note"
_HEX8 = re.compile(r"^[0-9a-f]{8}$")


def crc32_hex(text: str) -> str:
    return f"{zlib.crc32(text.encode('utf-8')):08x}"


class Crc32Signal(SignalType):
    """CRC-32 of a text (example plugin; a toy, it collides easily)."""

    name = "example_crc32"
    index_kind = "exact"
    content_types: ClassVar[tuple[str, ...]] = ("text", CONTENT_TYPE)
    variant_names: ClassVar[tuple[str, ...]] = ("original", "casefold")

    def normalize(self, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if not _HEX8.match(v):
            raise InvalidInput("example_crc32 must be 8 hexadecimal characters", code="invalid_signal_value")
        return v

    def _text(self, content: Content) -> str | None:
        if content.content_type == "text":
            return content.text
        try:
            return content.data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("an example_note must be UTF-8 text", code="invalid_note") from None

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        text = self._text(content)
        if not text:
            return []
        folded = crc32_hex(text.strip().casefold())
        if not for_query:
            return [ComputedSignal(type=self.name, value=folded)]
        return [ComputedSignal(type=self.name, value=crc32_hex(text.strip()), variants=[folded])]

    def distance(self, a: str, b: str) -> int:
        return 0 if a == b else 1
