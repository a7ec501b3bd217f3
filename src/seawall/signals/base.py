"""The one small interface every signal type implements.

A signal type knows how to validate and normalise a stored value, how to compute itself from content,
and how far apart two values are. Which index serves it is declared by ``index_kind``, so matching
code never needs to know a concrete signal by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from seawall.domain.models import ComputedSignal
from seawall.media.content import Content


class SignalType(ABC):
    """A kind of fingerprint (md5, sha256, pdq, …)."""

    #: Name used in APIs, hash lists and storage (``pdq``, ``md5``…).
    name: ClassVar[str]
    #: ``exact`` (dictionary lookup) or ``hamming256`` (radius search over 256-bit hashes).
    index_kind: ClassVar[str] = "exact"
    #: Content types this signal is computed from.
    content_types: ClassVar[tuple[str, ...]] = ()
    #: Default match distance (0 for exact digests).
    default_threshold: ClassVar[int] = 0
    #: Largest distance a bank may configure.
    max_threshold: ClassVar[int] = 0

    @abstractmethod
    def normalize(self, value: str) -> str:
        """Canonical form of a value, or :class:`seawall.errors.InvalidInput` naming what is wrong."""

    @abstractmethod
    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        """Signals of this type for the content (empty when it does not apply)."""

    @abstractmethod
    def distance(self, a: str, b: str) -> int:
        """Distance between two normalised values."""

    def applies_to(self, content_type: str) -> bool:
        return content_type in self.content_types
