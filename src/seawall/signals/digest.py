"""Shared behaviour of cryptographic file digests (exact match over the raw bytes)."""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.base import SignalType


class DigestSignal(SignalType):
    """A hex digest of the bytes; two files match only when identical."""

    algorithm: ClassVar[str]
    hex_length: ClassVar[int]
    index_kind = "exact"
    content_types = ("image", "file", "video", "text")

    def normalize(self, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if len(v) != self.hex_length or not re.fullmatch(r"[0-9a-f]+", v):
            raise InvalidInput(
                f"{self.name} must be {self.hex_length} hexadecimal characters",
                code="invalid_signal_value",
            )
        return v

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        digest = hashlib.new(self.algorithm, content.raw_bytes).hexdigest()
        return [ComputedSignal(type=self.name, value=digest)]

    def distance(self, a: str, b: str) -> int:
        return 0 if a == b else 1
