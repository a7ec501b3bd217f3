"""The PDQ signal: bit-for-bit the reference hash, in the reference's text format, with honest variants.

Hashes are only useful if they equal what other platforms compute and share, so Seawall's value for
given pixels must be exactly the C++ reference's (``pdqhash``), written the way the reference and
python-threatexchange write it. Query variants are labelled with the geometric transform they stand
for; a wrong label would send reviewers looking for a rotation that is not there. Every image here is
generated; none is real content.
"""

from __future__ import annotations

import io
import re

import numpy as np
import numpy.typing as npt
import pdqhash
import pytest
from PIL import Image

from seawall.errors import InvalidInput, UnsupportedMedia
from seawall.media.content import Content
from seawall.media.image import decode_image
from seawall.signals.pdq.signal import (
    DIHEDRAL_NAMES,
    PdqSignal,
    bits_to_hex,
    hex_to_bytes,
    pdq_dihedral_from_pixels,
    pdq_from_pixels,
)

from .imaging import TRANSFORMS, photo_like

U8 = npt.NDArray[np.uint8]
HEX64 = re.compile(r"[0-9a-f]{64}")



def encode(pixels: U8, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **kw)
    return buf.getvalue()


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def reference_hex(bits: npt.ArrayLike) -> str:
    """The reference text form, built independently of ``bits_to_hex``: the vector read as one 256-bit
    number, most significant bit first, printed as 64 lowercase hex digits (``Hash256::format`` prints
    word 15 first, and ``pdqhash`` puts bit 255 first)."""
    return format(int("".join(str(int(b)) for b in np.asarray(bits).ravel()), 2), "064x")


# ---------------------------------------------------------------------------------------------------
# equality with the reference


@pytest.mark.parametrize(
    ("h", "w", "seed", "fmt"),
    [(64, 64, 1, "PNG"), (241, 319, 2, "PNG"), (480, 640, 3, "JPEG"), (1000, 37, 4, "PNG"), (300, 300, 5, "WEBP")],
)
def test_hash_equals_the_reference_bit_for_bit(h: int, w: int, seed: int, fmt: str) -> None:
    """Same decoded pixels in, same 256 bits and quality out as calling the C++ reference directly."""
    pixels = decode_image(encode(photo_like(h, w, seed), fmt))
    ref_bits, ref_quality = pdqhash.compute(pixels)

    value, quality = pdq_from_pixels(pixels)

    assert HEX64.fullmatch(value)
    assert value == reference_hex(ref_bits)
    assert quality == ref_quality
    assert quality >= 50


def test_hash_of_different_images_differs() -> None:
    """Guards the test above against a hasher that returns a constant."""
    a, _ = pdq_from_pixels(photo_like(200, 200, seed=1))
    b, _ = pdq_from_pixels(photo_like(200, 200, seed=2))
    assert hamming(a, b) > 80


def test_bit_order_matches_the_dct_coefficients() -> None:
    """Pins the text format to the reference's meaning: hash bit k is set when DCT coefficient k (row-major
    in the 16×16 block) exceeds the median, and bit 255 is the most significant bit of the first hex
    digit. ``compute_float`` exposes the coefficients in the same reversed order as ``compute``'s bits."""
    pixels = photo_like(256, 256, seed=9)
    coefficients, _ = pdqhash.compute_float(pixels)
    value, _ = pdq_from_pixels(pixels)

    block = np.asarray(coefficients)[::-1].reshape(16, 16)  # block[i, j] is coefficient 16*i + j
    as_int = int(value, 16)
    median = np.median(block)
    for k in range(256):
        assert bool((as_int >> k) & 1) == bool(block.flat[k] > median), k


@pytest.mark.parametrize(
    ("set_bits", "expected"),
    [
        ([], "0" * 64),
        ([0], "8" + "0" * 63),
        ([3], "1" + "0" * 63),
        ([4], "08" + "0" * 62),
        ([255], "0" * 63 + "1"),
        ([252], "0" * 63 + "8"),
        (list(range(256)), "f" * 64),
    ],
)
def test_bits_to_hex_is_msb_first(set_bits: list[int], expected: str) -> None:
    """Position 0 of the ``pdqhash`` vector is the top bit of the first hex digit."""
    bits = np.zeros(256, dtype=np.uint8)
    bits[set_bits] = 1
    assert bits_to_hex(bits) == expected
    assert bits_to_hex(bits.astype(np.int64)) == expected
    assert hex_to_bytes(expected) == bytes.fromhex(expected)
    assert len(hex_to_bytes(expected)) == 32


def test_quality_is_low_for_near_uniform_pixels() -> None:
    """A near-blank image must report quality < 50 so matching can refuse it."""
    rng = np.random.default_rng(0)
    flat = (127 + rng.integers(0, 2, (200, 200, 1))).astype(np.uint8).repeat(3, 2)
    _, quality = pdq_from_pixels(flat)
    _, dihedral_quality = pdq_dihedral_from_pixels(flat)
    assert quality < 50
    assert dihedral_quality == quality


# ---------------------------------------------------------------------------------------------------
# dihedral variants




def _hash_of_transformed(pixels: U8, name: str) -> str:
    return pdq_from_pixels(np.ascontiguousarray(TRANSFORMS[name](pixels)))[0]


def test_dihedral_names_cover_the_eight_transforms() -> None:
    assert len(DIHEDRAL_NAMES) == 8
    assert set(DIHEDRAL_NAMES) == set(TRANSFORMS)
    assert DIHEDRAL_NAMES[0] == "original"


@pytest.mark.parametrize(("h", "w", "seed"), [(383, 383, 1), (260, 380, 2), (300, 290, 3), (600, 640, 4)])
def test_each_dihedral_variant_is_the_hash_of_its_transform(h: int, w: int, seed: int) -> None:
    """Variant i must be the hash of the pixels transformed as DIHEDRAL_NAMES[i] says. At these sizes the
    reference's downscaling filter window (ceil(side / 128) pixels) is odd, so the filter is nearly
    symmetric under the transforms and the variants agree within a few bits."""
    pixels = photo_like(h, w, seed)
    variants, quality = pdq_dihedral_from_pixels(pixels)

    assert len(variants) == 8
    assert variants[0] == pdq_from_pixels(pixels)[0]
    assert quality == pdq_from_pixels(pixels)[1]
    transformed = {name: _hash_of_transformed(pixels, name) for name in TRANSFORMS}
    for name, value in zip(DIHEDRAL_NAMES, variants, strict=True):
        assert HEX64.fullmatch(value)
        assert hamming(value, transformed[name]) <= 8, name
        for other, other_value in transformed.items():
            if other != name:
                assert hamming(value, other_value) > 60, (name, other)


@pytest.mark.parametrize(("h", "w", "seed"), [(129, 129, 7), (256, 256, 4), (240, 320, 5), (512, 512, 6)])
def test_dihedral_variant_is_nearest_its_transform_for_any_size(h: int, w: int, seed: int) -> None:
    """Each variant must carry the right name: its own transform is the nearest. (The reference's
    DCT-derived variants can be far off at some sizes; ``pdq_dihedral_from_pixels`` corrects them, and
    tests/test_pdq_dihedral.py holds the tight distance bounds.)"""
    pixels = photo_like(h, w, seed)
    variants, _ = pdq_dihedral_from_pixels(pixels)
    transformed = {name: _hash_of_transformed(pixels, name) for name in TRANSFORMS}
    for name, value in zip(DIHEDRAL_NAMES, variants, strict=True):
        distances = {other: hamming(value, v) for other, v in transformed.items()}
        nearest = min(distances, key=lambda k: distances[k])
        assert nearest == name, distances
        assert distances[name] <= 70
        assert sorted(distances.values())[1] > 90


# ---------------------------------------------------------------------------------------------------
# the SignalType


def test_signal_compute_for_storage_and_for_query() -> None:
    """Stored hashes are the original only; query hashes carry the seven other variants, in name order."""
    pixels = photo_like(260, 380, seed=8)
    data = encode(pixels)
    signal = PdqSignal()

    (stored,) = signal.compute(Content("image", data=data))
    (query,) = signal.compute(Content("image", data=data), for_query=True)

    decoded = decode_image(data)
    variants, quality = pdq_dihedral_from_pixels(decoded)
    assert stored.type == query.type == "pdq"
    assert stored.value == pdq_from_pixels(decoded)[0]
    assert stored.variants == []
    assert stored.quality == query.quality == quality
    assert query.value == variants[0] == stored.value
    assert query.variants == variants[1:]
    assert len(query.variants) == 7
    assert stored.value == signal.normalize(stored.value)


def test_signal_reports_low_quality_rather_than_hiding_it() -> None:
    """The signal records quality; refusing to match below 50 is matching's job, which needs the number."""
    flat = np.full((200, 200, 3), 90, dtype=np.uint8)
    (sig,) = PdqSignal().compute(Content("image", data=encode(flat)))
    assert sig.quality is not None
    assert sig.quality < 50


def test_signal_compute_refuses_non_images() -> None:
    with pytest.raises(UnsupportedMedia):
        PdqSignal().compute(Content("image", data=b"not an image at all" * 10))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AB" * 32, "ab" * 32),
        ("  " + "0f" * 32 + "\n", "0f" * 32),
        ("0" * 64, "0" * 64),
    ],
)
def test_normalize_accepts_and_canonicalises(raw: str, expected: str) -> None:
    assert PdqSignal().normalize(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "a" * 63, "a" * 65, "g" * 64, "0x" + "a" * 62, "a" * 32 + " " + "a" * 31, "é" * 64]
)
def test_normalize_rejects_malformed(raw: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        PdqSignal().normalize(raw)
    assert exc.value.code == "invalid_signal_value"
    assert exc.value.status == 422


def test_normalize_many_agrees_with_normalize_value_by_value() -> None:
    """The vectorised page check must accept, canonicalise and refuse exactly what ``normalize`` does,
    including values whose lengths only add up to a whole number of hashes when joined."""
    rng = np.random.default_rng(5)
    good = [rng.bytes(32).hex() for _ in range(50)]
    bad = ["", "a" * 63, "a" * 65, "g" * 64, "é" * 64, "AB" * 32, "  " + "0f" * 32 + "\n", "a" * 32 + " " + "a" * 31]
    signal = PdqSignal()
    for values in (good, good[:10] + bad + good[10:], ["a" * 63, "b" * 65, *good], [*good, "A" * 64]):
        got = signal.normalize_many(values)
        assert len(got) == len(values)
        for value, out in zip(values, got, strict=True):
            try:
                expected: str | type[Exception] = signal.normalize(value)
            except InvalidInput:
                expected = InvalidInput
            if expected is InvalidInput:
                assert isinstance(out, InvalidInput), (value, out)
            else:
                assert out == expected, (value, out)


def test_distance_is_hamming() -> None:
    signal = PdqSignal()
    zero, ones = "0" * 64, "f" * 64
    assert signal.distance(zero, zero) == 0
    assert signal.distance(zero, ones) == 256
    assert signal.distance(zero, "8" + "0" * 63) == 1
    assert signal.distance("0" * 63 + "3", "0" * 63 + "1") == 1
    a, _ = pdq_from_pixels(photo_like(120, 120, seed=1))
    b, _ = pdq_from_pixels(photo_like(120, 120, seed=2))
    assert signal.distance(a, b) == signal.distance(b, a) == int(
        np.unpackbits(np.frombuffer(hex_to_bytes(a), np.uint8) ^ np.frombuffer(hex_to_bytes(b), np.uint8)).sum()
    )
