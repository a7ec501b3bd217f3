"""The reference PDQ entry points called directly (:mod:`seawall.signals.pdq.native`) give exactly the bits
and quality of ``pdqhash``'s own functions, for every shape the decoder can produce."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest

from seawall.signals.pdq import native
from seawall.signals.pdq.signal import DIHEDRAL_NAMES, bits_to_hex, pdq_dihedral_from_pixels, pdq_from_pixels

SHAPES = [(1, 1), (2, 3), (64, 64), (129, 255), (255, 129), (300, 200), (512, 512), (384, 1000), (1024, 768)]


def _picture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth gradients plus noise: a hash with both strong and borderline coefficients."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(1, w - 1)), (y * 255 // max(1, h - 1)), ((x + y) * 127 // max(1, h + w))], -1)
    return np.clip(base + rng.integers(-40, 40, (h, w, 3)), 0, 255).astype(np.uint8)


def test_the_pinned_pdqhash_exports_the_reference_entry_points() -> None:
    """requirements.lock pins a pdqhash whose extension exports them: the fallback is for other builds, and
    the comparisons below would otherwise compare pdqhash with itself."""
    assert native.AVAILABLE


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{h}x{w}" for h, w in SHAPES])
def test_native_hash_and_dihedral_equal_pdqhash(shape: tuple[int, int]) -> None:
    pixels = _picture(*shape, seed=shape[0] * 7 + shape[1])
    bits, quality = pdqhash.compute(pixels)
    assert native.hash_luma(native.luma(pixels)) == (bits_to_hex(bits), int(quality))
    assert pdq_from_pixels(pixels) == (bits_to_hex(bits), int(quality))
    vectors, q8 = pdqhash.compute_dihedral(pixels)
    assert native.dihedral_luma(native.luma(pixels)) == ([bits_to_hex(v) for v in vectors], int(q8))


@pytest.mark.parametrize("shape", [(512, 512), (300, 200), (129, 255)], ids=["512", "300x200", "129x255"])
def test_query_variants_unchanged_by_the_native_path(shape: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The eight query hashes (mirrored runs included) are the same with and without the native path."""
    pixels = _picture(*shape, seed=5)
    fast = pdq_dihedral_from_pixels(pixels)
    monkeypatch.setattr(native, "AVAILABLE", False)
    slow = pdq_dihedral_from_pixels(pixels)
    assert fast == slow and len(fast[0]) == len(DIHEDRAL_NAMES)
    assert fast[0][0] == bits_to_hex(pdqhash.compute(pixels)[0])


def test_native_calls_leave_the_input_pixels_and_plane_copies_apart() -> None:
    pixels = _picture(200, 300, seed=9)
    before = pixels.copy()
    plane = native.luma(pixels)
    copy = native.flipped(plane, False, False)
    assert copy is not plane and np.shares_memory(copy, plane) is False
    native.dihedral_luma(copy)  # overwrites its argument (the reference uses it as scratch)
    assert np.array_equal(pixels, before) and np.array_equal(native.luma(pixels), plane)


def test_concurrent_native_calls_give_the_sequential_hashes() -> None:
    """The calls run without the GIL: threads hashing at once get exactly what one thread gets."""
    from concurrent.futures import ThreadPoolExecutor

    pictures = [_picture(256 + 37 * i, 300 - 11 * i, seed=i) for i in range(8)]
    sequential = [pdq_dihedral_from_pixels(p) for p in pictures]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(pdq_dihedral_from_pixels, pictures)) == sequential


def test_luma_equals_the_pdqhash_expression_for_every_colour() -> None:
    """Each luma value depends on its pixel's three bytes alone, so comparing all 2^24 colours proves the
    compiled kernel equal to the NumPy expression ``pdqhash.compute`` uses, for every image."""
    codes = np.arange(1 << 24, dtype=np.uint32).reshape(4096, 4096)
    for start in range(0, 4096, 512):
        block = codes[start:start + 512]
        image = np.stack([(block >> 16) & 255, (block >> 8) & 255, block & 255], axis=-1).astype(np.uint8)
        expected = (image[:, :, 0] * 0.299 + image[:, :, 1] * 0.587 + image[:, :, 2] * 0.114).astype("float32")
        assert np.array_equal(native.luma(image).view(np.uint32), expected.view(np.uint32))


def test_luma_of_strided_and_read_only_pixels() -> None:
    """Views (a crop, a mirrored view) and read-only arrays, as decoders hand them out, give the same plane."""
    pixels = _picture(120, 90, seed=4)
    view = pixels[10:100, ::-1]
    assert np.array_equal(native.luma(view), native.luma(np.ascontiguousarray(view)))
    frozen = pixels.copy()
    frozen.setflags(write=False)
    out = np.empty((120, 90), dtype=np.float32)
    assert native.luma(frozen, out) is out and np.array_equal(out, native.luma(pixels))
