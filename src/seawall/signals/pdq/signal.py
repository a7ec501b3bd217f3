"""PDQ perceptual image hash, computed by the reference C++ implementation (``pdqhash``).

Seawall only decodes (see :mod:`seawall.media.image`) and formats: hashing is delegated so that the
bits equal the reference for the same pixels. Queries carry all eight rotations/flips so that a rotated
or mirrored re-upload of a banked picture still matches; see :func:`pdq_dihedral_from_pixels` for why
those are not simply the reference's own dihedral hashes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pdqhash

from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.base import SignalType, hex_pattern
from seawall.signals.pdq import native, staged

if TYPE_CHECKING:
    from seawall.config import Settings

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Byte → whether it is a lower-case hexadecimal digit (the vectorised form of ``_HEX64``).
_HEX_LOWER = np.zeros(256, dtype=bool)
_HEX_LOWER[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = True

#: Names of the dihedral variants in the order ``pdqhash.compute_dihedral`` returns them (the C++
#: reference's order). Variant *name* is the hash of the pixels after that transform:
#: ``rotate90`` a quarter turn counter-clockwise (``np.rot90(x, 1)``), ``rotate270`` clockwise,
#: ``flip_x`` top↔bottom (``x[::-1]``), ``flip_y`` left↔right (``x[:, ::-1]``), ``flip_plus1`` the
#: transpose and ``flip_minus1`` the anti-transpose. So a query matching through ``rotate90`` is the banked
#: picture turned a quarter clockwise.
DIHEDRAL_NAMES: tuple[str, ...] = (
    "original", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "flip_plus1", "flip_minus1",
)

#: Each variant as "transpose or not, after reversing the input's rows and/or columns":
#: (transposed, reverses rows, reverses columns). ``np.rot90(x, 1)`` is ``x[:, ::-1].T`` and
#: ``np.rot90(x, 3)`` is ``x[::-1].T``. Written out so that composing a variant with a flip is bit logic.
_SHAPE: dict[str, tuple[bool, bool, bool]] = {
    "original": (False, False, False),
    "rotate90": (True, False, True),
    "rotate180": (False, True, True),
    "rotate270": (True, True, False),
    "flip_x": (False, True, False),
    "flip_y": (False, False, True),
    "flip_plus1": (True, False, False),
    "flip_minus1": (True, True, True),
}
_INDEX_OF_SHAPE: dict[tuple[bool, bool, bool], int] = {_SHAPE[n]: i for i, n in enumerate(DIHEDRAL_NAMES)}

#: Largest mirror misalignment (see :func:`mirror_shift`) at which the reference's derived hashes are
#: trusted for variants that reverse that axis. Measured on generated photo-like images
#: (``benchmarks/bench_dihedral.py``): at ≤ 1/8 of a cell a derived variant is within ~8 bits of hashing
#: the transformed pixels; at 1/4 it is 10–15 bits off, and at the ~1 cell of 129–255 px sides, 30+.
MAX_MIRROR_SHIFT = 0.125


def bits_to_hex(bits: npt.ArrayLike) -> str:
    """The 256-element bit vector from ``pdqhash`` (most significant first) as 64 hex characters."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def hex_to_bytes(value: str) -> bytes:
    return bytes.fromhex(value)


def pdq_from_pixels(pixels: npt.NDArray[np.uint8]) -> tuple[str, int]:
    """Hash and quality (0–100) of decoded RGB pixels (the reference's, through :mod:`.native` when it can)."""
    if native.AVAILABLE and staged.AVAILABLE and min(pixels.shape[:2]) >= staged.MIN_SIDE:
        return staged.hash_plane(staged.luma_of(pixels))
    if native.AVAILABLE:
        return native.hash_luma(native.luma(pixels))
    bits, quality = pdqhash.compute(pixels)
    return bits_to_hex(bits), int(quality)


def mirror_shift(side: int) -> float:
    """How far off mirror symmetry the reference samples an axis of ``side`` pixels, in PDQ cells (side / 64).

    The reference blurs with two passes of a box of ``ceil(side / 128)`` pixels and then samples pixel
    ``floor((i + 0.5) * side / 64)`` for i < 64. An even box is centred half a pixel off (one pixel after
    two passes), and when 128 divides ``side`` every sample sits half a pixel past the cell centre. Either
    way the sampling grid is not its own mirror image, so the hash the reference *derives* for a mirrored
    image (by flipping DCT signs) is the hash of a grid shifted by this many cells, not the hash of the
    mirrored pixels. Zero exactly when the box is odd and 128 does not divide ``side``; the transpose
    never shifts anything.
    """
    window = (side + 127) // 128
    pixels_off = 2 * (window % 2 == 0) + (side % 128 == 0)
    return pixels_off * 64 / side


def _flipped(pixels: npt.NDArray[np.uint8], rows: bool, cols: bool) -> npt.NDArray[np.uint8]:
    """A C-contiguous copy with rows and/or columns reversed (``pdqhash`` reads the buffer as row-major).

    Columns are reversed one channel at a time: numpy copies a reversed (h, w, 3) view about five times
    slower than three reversed (h, w) planes.
    """
    if not (rows or cols):
        return pixels
    src = pixels[::-1] if rows else pixels
    if not cols:
        return np.ascontiguousarray(src)
    out = np.empty_like(pixels)
    for channel in range(pixels.shape[2]):
        out[:, :, channel] = src[:, ::-1, channel]
    return out


def pdq_dihedral_from_pixels(pixels: npt.NDArray[np.uint8]) -> tuple[list[str], int]:
    """The eight dihedral hashes (order of :data:`DIHEDRAL_NAMES`) and the quality of ``pixels``.

    Variant *name* is (within a few bits) ``pdqhash.compute`` of the pixels after that transform, which
    is what a match needs: the bank holds the hash of the picture as first seen, and a rotated re-upload
    matches only through the variant that undoes the rotation, hashed as the bank's side was.

    The reference's ``compute_dihedral`` derives seven variants from one DCT. That is exact for the
    transpose, but a variant that mirrors an axis is off by :func:`mirror_shift` cells, which for
    common sides (129–255, 384–511, 512, 768, 1024 …; JPEGs decoded in draft mode land on 256–511) costs
    20–60 bits, enough to miss a match at 31. So ``compute_dihedral`` runs once on the pixels and, for
    each axis whose shift exceeds :data:`MAX_MIRROR_SHIFT`, once more on a copy with that axis (or both)
    reversed; each variant is taken from the run whose own derived variant reverses no such axis. That is
    1, 2 or 4 reference calls, never 8. The original-orientation hash and the quality come from the first
    run on the untouched pixels, bit for bit ``pdqhash.compute``'s. When the reference's steps are
    exported (:mod:`.staged`), those runs are made step by step and share their first blur pass: the
    same bits for about two thirds of the CPU.
    """
    height, width = pixels.shape[:2]
    shaky_rows = mirror_shift(height) > MAX_MIRROR_SHIFT
    shaky_cols = mirror_shift(width) > MAX_MIRROR_SHIFT
    # For each variant, the flip to apply to the pixels first: exactly the shaky axes it reverses.
    plan: dict[tuple[bool, bool], list[int]] = {}
    for i, name in enumerate(DIHEDRAL_NAMES):
        _, rev_rows, rev_cols = _SHAPE[name]
        plan.setdefault((rev_rows and shaky_rows, rev_cols and shaky_cols), []).append(i)
    hashes: list[str] = [""] * len(DIHEDRAL_NAMES)
    if native.AVAILABLE and staged.AVAILABLE and min(height, width) >= staged.MIN_SIDE:
        # the same reference runs, step by step, sharing their first blur pass (see .staged)
        runs = staged.mirrored_runs(staged.luma_of(pixels), plan)
        for (flip_rows, flip_cols), targets in plan.items():
            for i in targets:
                hashes[i] = runs[(flip_rows, flip_cols)].hex(_source(i, flip_rows, flip_cols))
        return hashes, runs[(False, False)].quality
    quality = 0
    # the luma of mirrored pixels is the mirrored luma: it is computed once and each run gets its own copy
    plane = native.luma(pixels) if native.AVAILABLE else None
    for (flip_rows, flip_cols), targets in plan.items():  # (False, False) first: it holds "original"
        if plane is not None:
            derived, q = native.dihedral_luma(native.flipped(plane, flip_rows, flip_cols))
        else:
            vectors, q = pdqhash.compute_dihedral(_flipped(pixels, flip_rows, flip_cols))
            derived = [bits_to_hex(v) for v in vectors]
        if not (flip_rows or flip_cols):
            quality = int(q)
        for i in targets:
            hashes[i] = derived[_source(i, flip_rows, flip_cols)]
    return hashes, quality


def _source(variant: int, flip_rows: bool, flip_cols: bool) -> int:
    """Which derived hash of the copy flipped by (``flip_rows``, ``flip_cols``) is ``variant`` of the pixels:
    variant i of the pixels = (variant i ∘ the flip) of the flipped copy, as flips are involutions."""
    transposed, rev_rows, rev_cols = _SHAPE[DIHEDRAL_NAMES[variant]]
    return _INDEX_OF_SHAPE[(transposed, rev_rows != flip_rows, rev_cols != flip_cols)]


class PdqSignal(SignalType):
    name = "pdq"
    index_kind = "hamming256"
    value_pattern = hex_pattern(64)
    content_types = ("image",)
    #: Profile pictures are compared by their PDQ (and its rotations/flips) when re-appearance is checked.
    account_evidence = "avatar"
    default_threshold = 31
    max_threshold = 63
    variant_names = DIHEDRAL_NAMES

    def normalize(self, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if not _HEX64.match(v):
            raise InvalidInput("pdq must be 64 hexadecimal characters (256 bits)", code="invalid_signal_value")
        return v

    def normalize_many(self, values: Sequence[str]) -> list[str | Exception]:
        """All values checked at once: when every value is 64 lower-case ASCII characters (what feeds
        send), one NumPy look-up over the joined text validates them; only values that fail (or need
        stripping or lower-casing) go through :meth:`normalize` one by one."""
        vals = list(values)
        if not vals:
            return []
        if not all(isinstance(v, str) for v in vals) or set(map(len, vals)) != {64}:
            return super().normalize_many(vals)
        joined = "".join(vals)
        if not joined.isascii():
            return super().normalize_many(vals)
        ok = _HEX_LOWER[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)].reshape(len(vals), 64).all(axis=1)
        if ok.all():
            return list(vals)
        out: list[str | Exception] = list(vals)
        for i in np.flatnonzero(~ok).tolist():
            try:
                out[i] = self.normalize(vals[i])
            except Exception as exc:
                out[i] = exc
        return out

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        """The stored form is the hash of the pixels as uploaded; the query form adds the seven other
        rotations/flips (:func:`pdq_dihedral_from_pixels`) so transformed re-uploads match too."""
        pixels = content.pixels()
        if for_query:
            hashes, quality = pdq_dihedral_from_pixels(pixels)
            return [ComputedSignal(type=self.name, value=hashes[0], quality=quality, variants=hashes[1:])]
        value, quality = pdq_from_pixels(pixels)
        return [ComputedSignal(type=self.name, value=value, quality=quality)]

    def distance(self, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    def threshold_from(self, settings: Settings) -> int:
        return settings.pdq_threshold

    def min_quality_from(self, settings: Settings) -> int:
        return settings.pdq_min_quality
