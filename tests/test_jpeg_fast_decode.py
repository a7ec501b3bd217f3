"""The direct JPEG decode (:mod:`seawall.media.jpeg_fast`) gives exactly Pillow's pixels, or stands aside.

PDQ hashes what the decoder gives: a single pixel's difference could move a hash bit and change what an
upload matches. So every plain JPEG shape an upload comes in (chroma subsamplings, progressive and
optimised files, sizes not a multiple of the block, every DCT scale) must decode to the very array the
Pillow path gives, and everything else (greyscale, CMYK, rotated by EXIF, cut off, trailing bytes) must be
left to Pillow, with Pillow's errors. Every image here is generated.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pdqhash
import pytest
from PIL import Image

from seawall.errors import InvalidInput
from seawall.media.image import DRAFT_MIN_SIDE, DecodeLimits, decode_image
from seawall.media.jpeg_fast import decode_plain_jpeg, draft_scale
from seawall.signals.pdq.signal import bits_to_hex, pdq_from_pixels

U8 = npt.NDArray[np.uint8]


def picture(h: int, w: int, seed: int) -> U8:
    """Smooth colour gradients under noise and a few hard edges: chroma and luma detail at every scale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / (7 + 11 * c) + y / (13 + 5 * c) + c) for c in range(3)], axis=-1)
    base += rng.normal(0, 30, (h, w, 3))
    base[h // 3: h // 2, w // 4: w // 2] = (250, 20, 40)
    return np.clip(base, 0, 255).astype(np.uint8)


def jpeg(pixels: U8, **save: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", **save)
    return buf.getvalue()


def pillow_pixels(data: bytes, scale: int) -> U8:
    """The pixels Pillow's own path gives (what ``decode_image`` returned before the direct decode)."""
    with Image.open(io.BytesIO(data)) as img:
        if scale > 1:
            img.draft("RGB", (DRAFT_MIN_SIDE, DRAFT_MIN_SIDE))
        img.load()
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def scale_for(w: int, h: int) -> int:
    return draft_scale(w, h, DRAFT_MIN_SIDE) if min(w, h) >= 2 * DRAFT_MIN_SIDE else 1


@pytest.mark.parametrize(("w", "h"), [(1024, 1024), (1531, 1023), (1300, 2100), (4200, 2100), (700, 513), (17, 9)])
@pytest.mark.parametrize("save", [
    {"quality": 80, "subsampling": 2},
    {"quality": 95, "subsampling": 0},
    {"quality": 60, "subsampling": 1},
    {"quality": 85, "progressive": True},
    {"quality": 75, "optimize": True},
])
def test_plain_jpeg_decodes_to_pillows_pixels(w: int, h: int, save: dict[str, object]) -> None:
    data = jpeg(picture(h, w, seed=w + h), **save)
    scale = scale_for(w, h)
    with Image.open(io.BytesIO(data)) as img:
        fast = decode_plain_jpeg(data, img, scale)
    assert fast is not None, "a plain JPEG takes the direct path"
    expected = pillow_pixels(data, scale)
    assert fast.shape == expected.shape and fast.flags.c_contiguous
    assert np.array_equal(fast, expected)
    assert np.array_equal(decode_image(data), expected)


def test_every_dct_scale_matches_pillow() -> None:
    data = jpeg(picture(4100, 4100, seed=3), quality=80)
    for scale in (1, 2, 4, 8):
        with Image.open(io.BytesIO(data)) as img:
            fast = decode_plain_jpeg(data, img, scale)
            assert fast is not None
            if scale > 1:
                img.draft("RGB", (4100 // scale, 4100 // scale))
            img.load()
            assert np.array_equal(fast, np.asarray(img.convert("RGB"))), scale


def test_pdq_is_the_reference_hash_of_pillows_pixels() -> None:
    data = jpeg(picture(1024, 1024, seed=9), quality=80)
    expected = pillow_pixels(data, 2)
    bits, quality = pdqhash.compute(expected)
    assert pdq_from_pixels(decode_image(data)) == (bits_to_hex(bits), quality)


def exif_rotated(data: bytes, pixels: U8) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(pixels, quality=80, exif=exif.tobytes())


@pytest.mark.parametrize("case", ["grey", "cmyk", "rotated", "truncated", "trailing", "png", "no_draft_scale"])
def test_anything_else_is_left_to_pillow(case: str) -> None:
    pixels = picture(1024, 1024, seed=5)
    data = jpeg(pixels, quality=80)
    if case == "grey":
        data = jpeg(pixels[:, :, 0])
    elif case == "cmyk":
        buf = io.BytesIO()
        Image.fromarray(pixels).convert("CMYK").save(buf, "JPEG")
        data = buf.getvalue()
    elif case == "rotated":
        data = exif_rotated(data, pixels)
    elif case == "truncated":
        data = data[: len(data) // 2]
    elif case == "trailing":
        data = data + b"trailing bytes"
    elif case == "png":
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "PNG")
        data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as img:
        assert decode_plain_jpeg(data, img, 3 if case == "no_draft_scale" else 2) is None


def test_rotated_jpeg_still_comes_upright() -> None:
    pixels = picture(600, 800, seed=6)
    data = exif_rotated(jpeg(pixels), pixels)
    out = decode_image(data)
    assert out.shape == (800, 600, 3)  # orientation 6: turned a quarter clockwise by Pillow's path


def test_cut_off_jpeg_is_still_refused_as_corrupt() -> None:
    data = jpeg(picture(1024, 1024, seed=7), quality=80)
    with pytest.raises(InvalidInput) as err:
        decode_image(data[: len(data) // 2])
    assert err.value.code == "corrupt_image"


def test_without_draft_the_full_size_is_decoded_directly() -> None:
    data = jpeg(picture(1024, 1024, seed=8), quality=80)
    out = decode_image(data, DecodeLimits(jpeg_draft=False))
    assert out.shape == (1024, 1024, 3)
    assert np.array_equal(out, pillow_pixels(data, 1))
