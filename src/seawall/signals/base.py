"""The one small interface every signal type implements.

A signal type knows how to validate and normalise a stored value, how to compute itself from content,
and how far apart two values are. Which index serves it is declared by ``index_kind``, so matching
code never needs to know a concrete signal by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from seawall.config import Settings


class SignalType(ABC):
    """A kind of fingerprint (md5, sha256, pdq, …)."""

    #: Name used in APIs, hash lists and storage (``pdq``, ``md5``…).
    name: ClassVar[str]
    #: Built-in index layouts: ``exact`` (dictionary lookup) or ``hamming256`` (radius search over
    #: 256-bit hashes). A signal with another layout overrides :meth:`create_index`.
    index_kind: ClassVar[str] = "exact"
    #: Content types this signal is computed from.
    content_types: ClassVar[tuple[str, ...]] = ()
    #: Default match distance (0 for exact digests).
    default_threshold: ClassVar[int] = 0
    #: Largest distance a bank may configure.
    max_threshold: ClassVar[int] = 0
    #: Too slow to compute within the upload request (video): items it applies to are processed in the
    #: background and the API answers 202 at once.
    deferred: ClassVar[bool] = False
    #: Names of a query's forms in the order ``compute(for_query=True)`` returns them: the value first
    #: (``original``), then each of ``ComputedSignal.variants`` (PDQ: its seven rotations and flips).
    #: A match through a variant reports its name, so a reviewer knows the upload was transformed.
    variant_names: ClassVar[tuple[str, ...]] = ("original",)
    #: What this signal says about an account when re-appearance is checked: ``domains`` (an item's
    #: value is a linked site), ``texts`` (an item's value is a set signature of its text; the type
    #: provides :meth:`slots`) or ``avatar`` (profile pictures are hashed with :meth:`compute`, and
    #: compared with :meth:`distance`); empty for none.
    account_evidence: ClassVar[str] = ""
    #: Extra values computed only to widen a bank (e.g. crops of a banked picture): stored as entries,
    #: but not what a file "hashes to", so ``seawall hash`` leaves them out.
    bank_side_only: ClassVar[bool] = False
    #: A type python-threatexchange does not know, or knows under the same name with other values (Seawall's
    #: ``tlsh`` hashes the normalised text, pytx's ``tlsh`` the raw text): left out of pytx-format exports,
    #: so a partner's pytx tooling never reads a value it would compute differently.
    seawall_only: ClassVar[bool] = False
    #: The form of a value :meth:`normalize` accepts, as a JSON Schema pattern, for the OpenAPI document
    #: (a bank entry's ``value``); empty when the form is more than a pattern says (a URL, an encoded set).
    value_pattern: ClassVar[str] = ""

    @abstractmethod
    def normalize(self, value: str) -> str:
        """Canonical form of a value, or :class:`seawall.errors.InvalidInput` naming what is wrong."""

    def normalize_many(self, values: Sequence[str]) -> list[str | Exception]:
        """:meth:`normalize` of each value, the error in its place where one is refused. A page of a
        partner's feed carries thousands of values of one type: a signal type with a vectorised check
        overrides this so a sync does not pay a Python call per value."""
        out: list[str | Exception] = []
        for value in values:
            try:
                out.append(self.normalize(value))
            except Exception as exc:  # a plugin's normaliser choking on junk is still junk input
                out.append(exc)
        return out

    @abstractmethod
    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        """Signals of this type for the content (empty when it does not apply)."""

    @abstractmethod
    def distance(self, a: str, b: str) -> int:
        """Distance between two normalised values."""

    def slots(self, value: str) -> npt.NDArray[np.uint32]:
        """A normalised value as MinHash slots: two values agree on about the share of slots that is the
        Jaccard similarity of what they hash. Re-appearance compares accounts' ``texts`` evidence with
        these (and buckets them by bands of slots), so a type declaring ``account_evidence = "texts"``
        provides it; its format stays the signal type's own business."""
        raise NotImplementedError(f"signal type {self.name!r} has no MinHash slots")

    def precheck(self, content: Content) -> None:
        """Cheap checks run before a deferred item is accepted (headers, limits), so an upload that can
        never be processed gets its 4xx at once instead of a ``failed`` item later."""
        return None

    def threshold_from(self, settings: Settings) -> int:
        """The deployment's default match distance for this signal (a bank may set its own); a signal
        with an operator setting (``SEAWALL_PDQ_THRESHOLD``) overrides this to read it."""
        return self.default_threshold

    def min_quality_from(self, settings: Settings) -> int:
        """The quality below which a computed value is neither matched nor banked. A signal whose
        values report a quality (a near-uniform image's PDQ says little) overrides this; the rest
        have no floor."""
        return 0

    def query_variant_names(self, variants: int) -> list[str]:
        """Names for a query's value and its ``variants`` extra forms; generic names if the signal
        computed more forms than it named."""
        if variants == 0:
            return ["original"]
        if len(self.variant_names) == variants + 1:
            return list(self.variant_names)
        return ["original", *(f"variant{i}" for i in range(1, variants + 1))]

    def applies_to(self, content_type: str) -> bool:
        return content_type in self.content_types

    @property
    def uses_distance(self) -> bool:
        """Whether matching searches a radius (perceptual) rather than equal values (digests)."""
        return self.max_threshold > 0

    def create_index(self) -> SignalIndex:
        """A new, empty index for this signal's values; override for a signal with its own index."""
        if self.index_kind == "exact":
            from seawall.index.exact import ExactIndex

            return ExactIndex()
        if self.index_kind == "hamming256":
            from seawall.signals.pdq.index import Hamming256Index

            return Hamming256Index()
        raise NotImplementedError(f"signal type {self.name!r} must provide create_index()")


def hex_pattern(length: int) -> str:
    """:attr:`SignalType.value_pattern` of a value of ``length`` hexadecimal digits, which :meth:`normalize`
    takes in either case and with surrounding spaces."""
    return rf"^\s*[0-9A-Fa-f]{{{length}}}\s*$"
