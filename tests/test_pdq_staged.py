"""The reference PDQ run step by step (:mod:`seawall.signals.pdq.staged`) gives exactly the hashes and quality
of the reference's one-call functions on each mirrored copy, for every variant, shape and generated photo."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw

from seawall.media.image import decode_image
from seawall.signals.pdq import native, staged
from seawall.signals.pdq.signal import bits_to_hex, pdq_dihedral_from_pixels, pdq_from_pixels

FLIPS = [(False, False), (True, False), (False, True), (True, True)]
SHAPES = [(64, 64), (64, 65), (127, 128), (128, 129), (200, 300), (255, 256), (384, 1000), (511, 513),
          (512, 512), (640, 480), (767, 1023), (1024, 768)]


def _plane(h: int, w: int, seed: int) -> np.ndarray:
    """A luma plane with smooth structure, edges and noise, so many coefficients sit near the median."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    smooth = 128 + 60 * np.sin(x / rng.uniform(5, 60)) * np.cos(y / rng.uniform(5, 60))
    edges = 50.0 * ((x + 2 * y) % rng.integers(40, 200) < 20)
    return (smooth + edges + rng.normal(0, 12, (h, w))).astype(np.float32)


def _photo_jpeg(seed: int, width: int, height: int) -> bytes:
    """A generated photo-like picture (blurred noise, shapes, a caption band) as a JPEG."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, x0 + int(rng.integers(10, width // 2)), y0 + int(rng.integers(10, height // 2)))
        draw.rectangle(box, fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw.rectangle((0, height - 60, width, height - 20), fill=(255, 255, 255))
    draw.text((10, height - 55), f"caption number {seed}", fill=(0, 0, 0))
    arr = np.clip(np.asarray(img, dtype=np.int16) + rng.integers(-20, 20, (height, width, 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, "JPEG", quality=int(rng.integers(60, 95)))
    return buf.getvalue()


def test_the_pinned_pdqhash_exports_the_steps() -> None:
    """Otherwise every comparison below would compare the one-call path with itself."""
    assert staged.AVAILABLE


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{h}x{w}" for h, w in SHAPES])
def test_every_variant_of_every_mirrored_copy_equals_the_reference(shape: tuple[int, int]) -> None:
    plane = _plane(*shape, seed=shape[0] * 31 + shape[1])
    before = plane.copy()
    runs = staged.mirrored_runs(plane, FLIPS)
    assert np.array_equal(plane, before)  # read, never used as scratch
    for flip in FLIPS:
        expected, quality = native.dihedral_luma(native.flipped(plane, *flip))
        assert [runs[flip].hex(v) for v in range(8)] == expected, flip
        assert runs[flip].quality == quality
    assert staged.hash_plane(plane) == native.hash_luma(plane.copy())


@pytest.mark.parametrize("flips", [[(True, True)], [(False, True), (True, False)], [(True, False)]])
def test_any_subset_of_copies_gives_the_same_runs(flips: list[tuple[bool, bool]]) -> None:
    plane = _plane(300, 420, seed=3)
    every = staged.mirrored_runs(plane, FLIPS)
    some = staged.mirrored_runs(plane, flips)
    assert set(some) == set(flips)
    assert all(some[f].hex(v) == every[f].hex(v) for f in flips for v in range(8))


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
def test_generated_photo_uploads_hash_as_the_one_call_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoded like uploads (JPEG draft included): the eight query hashes, quality and the stored hash equal
    the one-call reference path and ``pdqhash.compute``."""
    sizes = [(1024, 1024), (1280, 720), (800, 1200), (1000, 1000), (640, 640), (2048, 1536), (333, 517)]
    pictures = [decode_image(_photo_jpeg(seed, *sizes[seed % len(sizes)])) for seed in range(28)]
    fast = [(pdq_dihedral_from_pixels(p), pdq_from_pixels(p)) for p in pictures]
    monkeypatch.setattr(staged, "AVAILABLE", False)
    slow = [(pdq_dihedral_from_pixels(p), pdq_from_pixels(p)) for p in pictures]
    assert fast == slow
    for p, (_, (value, quality)) in zip(pictures, fast, strict=True):
        bits, q = pdqhash.compute(p)
        assert (value, quality) == (bits_to_hex(bits), int(q))


def test_planes_too_large_to_keep_hash_the_same() -> None:
    plane = _plane(700, 800, seed=8)
    assert plane.size > staged.REUSE_MAX_PIXELS
    assert staged.hash_plane(plane) == native.hash_luma(plane.copy())


def test_threads_sharing_nothing_but_the_library_get_the_sequential_hashes() -> None:
    """Working planes are per thread: threads hashing different shapes at once do not see each other's."""
    planes = [_plane(256 + 37 * i, 300 - 11 * i, seed=i) for i in range(8)] * 2
    sequential = [[r.hex(v) for r in staged.mirrored_runs(p, FLIPS).values() for v in (0, 6)] for p in planes]

    def run(p: np.ndarray) -> list[str]:
        return [r.hex(v) for r in staged.mirrored_runs(p, FLIPS).values() for v in (0, 6)]

    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(run, planes)) == sequential
