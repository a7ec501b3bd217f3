"""The lettering search of an upload's region hashes is reused by its ORB query: same masks, one search,
kept on the upload (``Content.lettering``), not in module state.

Images are generated: a noisy picture with meme-style lettering (white letters outlined in black).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from seawall.media.content import Content
from seawall.signals import pdq_regions


def _meme(seed: int) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(60, 200, (600, 800, 3), dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=64)
    draw.text((40, 30), "WHEN THE FERRY", fill=(255, 255, 255), font=font, stroke_width=4, stroke_fill=(0, 0, 0))
    draw.text((40, 480), "IS ON TIME", fill=(255, 255, 255), font=font, stroke_width=4, stroke_fill=(0, 0, 0))
    return np.asarray(img)


def _png(pixels: np.ndarray) -> bytes:  # type: ignore[type-arg]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_orb_mask_is_the_one_region_hashes_found() -> None:
    pixels = _meme(3)
    fresh = pdq_regions.lettering_mask(pixels)
    assert fresh is not None and fresh.any()
    search = pdq_regions.region_search(pixels)
    assert search.lettering is not None and np.array_equal(search.lettering > 0, fresh)
    assert search.hashes == pdq_regions.region_hashes(pixels)
    content = Content("image", data=_png(pixels))
    signals = pdq_regions.region_signals(content)
    assert signals and content.lettering is not None
    kept = content.lettering[0]
    reused = pdq_regions.upload_lettering(content)
    assert reused is not None and np.array_equal(reused, fresh)
    assert content.lettering[0] is kept  # taken, not searched again


def test_the_upload_kept_mask_is_used() -> None:
    """The ORB query reads the mask its upload's region search kept: a mask put there is the one used."""
    content = Content("image", data=_png(_meme(6)))
    content.lettering = (None,)  # searched: none found
    assert pdq_regions.upload_lettering(content) is None
    corner = np.zeros((256, 256), dtype=np.float32)
    corner[:10, :10] = 1
    content.lettering = (corner,)
    got = pdq_regions.upload_lettering(content)
    assert got is not None and int(got.sum()) == 100


def test_each_upload_is_searched_for_its_own_lettering() -> None:
    first, plain = Content("image", data=_png(_meme(4))), Content("image", data=_png(np.full((600, 800, 3), 128,
                                                                                             dtype=np.uint8)))
    pdq_regions.region_signals(first)
    assert plain.lettering is None
    assert pdq_regions.upload_lettering(plain) is None and plain.lettering == (None,)
    again = Content("image", data=first.data)  # the same bytes, another upload: searched, same answer
    expected = pdq_regions.upload_lettering(first)
    got = pdq_regions.upload_lettering(again)
    assert expected is not None and got is not None and np.array_equal(got, expected)
