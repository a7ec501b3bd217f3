"""PDQ perceptual image hash, computed by the reference C++ implementation (``pdqhash``).

Seawall only decodes (see :mod:`seawall.media.image`) and formats: hashing is delegated so that the
bits equal the reference for the same pixels. Queries carry all eight rotations/flips, which the
reference computes from one DCT at little extra cost.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pdqhash

from seawall.domain.models import ComputedSignal
from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.signals.base import SignalType

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

#: Names of the dihedral variants in the order ``pdqhash.compute_dihedral`` returns them (the C++
#: reference's order). Variant *name* approximates the hash of the pixels after that transform:
#: ``rotate90`` a quarter turn counter-clockwise (``np.rot90(x, 1)``), ``rotate270`` clockwise,
#: ``flip_x`` top↔bottom (``x[::-1]``), ``flip_y`` left↔right (``x[:, ::-1]``), ``flip_plus1`` the
#: transpose and ``flip_minus1`` the anti-transpose. So a query matching through ``rotate90`` is the banked
#: picture turned a quarter clockwise. The variants come from the DCT, not from re-hashing transformed
#: pixels: within a few bits of the latter when ceil(side / 128) is odd, up to ~60 bits off when it is even.
DIHEDRAL_NAMES: tuple[str, ...] = (
    "original", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "flip_plus1", "flip_minus1",
)


def bits_to_hex(bits: npt.ArrayLike) -> str:
    """The 256-element bit vector from ``pdqhash`` (most significant first) as 64 hex characters."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def hex_to_bytes(value: str) -> bytes:
    return bytes.fromhex(value)


def pdq_from_pixels(pixels: npt.NDArray[np.uint8]) -> tuple[str, int]:
    """Hash and quality (0–100) of decoded RGB pixels."""
    bits, quality = pdqhash.compute(pixels)
    return bits_to_hex(bits), int(quality)


def pdq_dihedral_from_pixels(pixels: npt.NDArray[np.uint8]) -> tuple[list[str], int]:
    """The eight dihedral hashes (order of :data:`DIHEDRAL_NAMES`) and the quality."""
    hashes, quality = pdqhash.compute_dihedral(pixels)
    return [bits_to_hex(h) for h in hashes], int(quality)


class PdqSignal(SignalType):
    name = "pdq"
    index_kind = "hamming256"
    content_types = ("image",)
    default_threshold = 31
    max_threshold = 63

    def normalize(self, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if not _HEX64.match(v):
            raise InvalidInput("pdq must be 64 hexadecimal characters (256 bits)", code="invalid_signal_value")
        return v

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        pixels = content.pixels()
        if for_query:
            hashes, quality = pdq_dihedral_from_pixels(pixels)
            return [ComputedSignal(type=self.name, value=hashes[0], quality=quality, variants=hashes[1:])]
        value, quality = pdq_from_pixels(pixels)
        return [ComputedSignal(type=self.name, value=value, quality=quality)]

    def distance(self, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()
