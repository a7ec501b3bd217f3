"""The lettering search of an upload's region hashes is reused by its ORB query: same masks, one search.

Images are generated: a noisy picture with meme-style lettering (white letters outlined in black).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from seawall.signals import pdq_regions


def _meme(seed: int) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(60, 200, (600, 800, 3), dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=64)
    draw.text((40, 30), "WHEN THE FERRY", fill=(255, 255, 255), font=font, stroke_width=4, stroke_fill=(0, 0, 0))
    draw.text((40, 480), "IS ON TIME", fill=(255, 255, 255), font=font, stroke_width=4, stroke_fill=(0, 0, 0))
    return np.asarray(img)


def test_orb_mask_is_the_one_region_hashes_found() -> None:
    pixels = _meme(3)
    pdq_regions._last_lettering = None
    fresh = pdq_regions.lettering_mask(pixels)
    assert fresh is not None and fresh.any()
    pdq_regions.region_hashes(pixels)
    memo = pdq_regions._last_lettering
    assert memo is not None and memo[0]() is pixels
    reused = pdq_regions.lettering_mask(pixels)
    assert reused is not None and np.array_equal(reused, fresh)


def test_other_pixels_are_searched_again() -> None:
    first, second = _meme(4), _meme(5)
    pdq_regions.region_hashes(first)
    plain = np.ascontiguousarray(np.full_like(second, 128))
    assert pdq_regions.lettering_mask(plain) is None  # not the memo of `first`
    equal_copy = first.copy()  # equal values, another array: searched, with the same answer
    expected = pdq_regions.lettering_mask(first)
    got = pdq_regions.lettering_mask(equal_copy)
    assert expected is not None and got is not None and np.array_equal(got, expected)
