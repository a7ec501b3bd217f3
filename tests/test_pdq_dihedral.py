"""Rotated and mirrored re-uploads of a banked picture must match, at every image size.

The bank holds PDQ of the picture as first seen. A query carries eight hashes, one per rotation/flip of
the upload, and an upload turned by T matches through the variant that undoes T. The reference derives
its seven extra hashes from one DCT, which is only right where its sampling grid is mirror-symmetric;
at sides such as 128–255, 384–511, 512 or 1000 it is 10–60 bits off, enough to lose the match at 31.
So the sizes here are chosen to include those. Every image is generated; none is real content.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pdqhash
import pytest
from PIL import Image

from seawall.media.content import Content
from seawall.media.image import decode_image
from seawall.signals.pdq.signal import DIHEDRAL_NAMES, PdqSignal, bits_to_hex, mirror_shift, pdq_from_pixels

from .imaging import TRANSFORMS, photo_like

U8 = npt.NDArray[np.uint8]
THRESHOLD = 31

#: The transform that undoes each one: a quarter turn one way is undone by a quarter turn the other way.
UNDO = {name: name for name in TRANSFORMS} | {"rotate90": "rotate270", "rotate270": "rotate90"}



def encode(pixels: U8, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, fmt, **kw)
    return buf.getvalue()


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def query_hashes(data: bytes) -> dict[str, str]:
    """The upload's eight query hashes by name, through the signal as matching calls it."""
    (query,) = PdqSignal().compute(Content("image", data=data), for_query=True)
    assert len(query.variants) == 7
    return dict(zip(DIHEDRAL_NAMES, [query.value, *query.variants], strict=True))


@pytest.mark.parametrize(
    ("h", "w", "seed"),
    [(128, 128, 1), (129, 129, 2), (256, 256, 3), (200, 300, 4), (300, 200, 5), (512, 384, 6),
     pytest.param(1000, 750, 7, marks=pytest.mark.slow), (383, 383, 8)],  # the large one: make test only
)
def test_every_rotation_or_flip_of_a_banked_image_matches_lossless(h: int, w: int, seed: int) -> None:
    """Lossless re-upload (PNG) of each of the 8 transforms: the variant that undoes the transform is the
    banked hash (the pixels it hashes are the banked pixels), so the upload matches with room to spare.
    With the reference's derived variants alone this is 6–60 bits off and misses outright at 129² and 256²."""
    original = photo_like(h, w, seed)
    banked, _ = pdq_from_pixels(original)
    for name, transform in TRANSFORMS.items():
        hashes = query_hashes(encode(transform(original), "PNG"))
        distances = {n: hamming(v, banked) for n, v in hashes.items()}
        assert min(distances.values()) <= THRESHOLD, (name, distances)
        assert distances[UNDO[name]] <= 2, (name, distances)


@pytest.mark.parametrize(
    ("h", "w", "seed"),
    [(129, 129, 11), (256, 256, 12), (200, 300, 13), (750, 1000, 14), (1000, 750, 15), (1000, 1000, 16),
     (768, 1024, 17)],
)
def test_every_rotation_or_flip_of_a_banked_jpeg_matches(h: int, w: int, seed: int) -> None:
    """The same picture banked from a JPEG and re-uploaded as a JPEG of each transform, decoded the way
    uploads are (draft mode: 1000–1024 px sides are hashed at 375–512, where the reference's grid is far
    from mirror-symmetric). The undoing variant must be the nearest and within the threshold, and close
    enough to leave the threshold for real edits: JPEG re-encoding alone moves a few bits, while the
    derived variants add 10–30 at these sizes."""
    original = photo_like(h, w, seed)
    banked, _ = pdq_from_pixels(decode_image(encode(original, "JPEG", quality=90)))
    for name, transform in TRANSFORMS.items():
        hashes = query_hashes(encode(transform(original), "JPEG", quality=90))
        distances = {n: hamming(v, banked) for n, v in hashes.items()}
        assert min(distances.values()) <= THRESHOLD, (name, distances)
        assert min(distances, key=lambda n: distances[n]) == UNDO[name], (name, distances)
        assert distances[UNDO[name]] <= 8, (name, distances)


@pytest.mark.parametrize(
    ("h", "w"),
    [(1, 1), (7, 5), (64, 64), (128, 128), (129, 129), (256, 256), (200, 300), (384, 512), (1000, 750),
     (97, 1536)],
)
def test_query_value_is_the_reference_hash_bit_for_bit(h: int, w: int) -> None:
    """The original-orientation query hash and quality are exactly ``pdqhash.compute`` of the decoded
    pixels and equal the stored form, whichever reference calls produced the variants."""
    data = encode(photo_like(h, w, seed=h * 31 + w), "PNG")
    pixels = decode_image(data)
    ref_bits, ref_quality = pdqhash.compute(pixels)
    (stored,) = PdqSignal().compute(Content("image", data=data))
    (query,) = PdqSignal().compute(Content("image", data=data), for_query=True)
    assert (query.value, query.quality) == (bits_to_hex(ref_bits), int(ref_quality)) == (stored.value, stored.quality)


def _reference_1d_downscale(side: int) -> npt.NDArray[np.float64]:
    """The reference's downscaler along one axis as a 64×side matrix, built from its definition: two
    passes of a box of ``ceil(side / 128)`` covering [o - (window - half), o + half - 1] clipped to the
    image with half = (window + 2) // 2, then pixel ``floor((i + 0.5) * side / 64)``."""
    window = (side + 127) // 128
    half = (window + 2) // 2
    box = np.zeros((side, side))
    for o in range(side):
        lo, hi = max(o - (window - half), 0), min(o + half - 1, side - 1)
        box[o, lo:hi + 1] = 1.0 / (hi - lo + 1)
    return (box @ box)[[int((i + 0.5) * side / 64) for i in range(64)]]


def test_mirror_shift_is_zero_exactly_where_the_reference_grid_is_mirror_symmetric() -> None:
    """Where ``mirror_shift`` is 0 the reference's derived variants are used unchecked, so it must be 0
    only where the reference's 1-D downscaler commutes with reversal; and it must grow with the asymmetry."""
    sides = [*range(1, 140), 200, 255, 256, 257, 300, 383, 384, 385, 500, 511, 512, 513, 640, 767, 768, 1000,
             1024, 1080]
    asymmetry = {}
    for side in sides:
        m = _reference_1d_downscale(side)
        asymmetry[side] = float(np.abs(m - m[::-1, ::-1]).sum(axis=1).max())
        assert (mirror_shift(side) == 0) == (asymmetry[side] < 1e-9), side
    shaky = sorted((s for s in sides if mirror_shift(s) > 0), key=mirror_shift)
    ranks = np.argsort(np.argsort([asymmetry[s] for s in shaky]))
    assert np.corrcoef(np.arange(len(shaky)), ranks)[0, 1] > 0.8
