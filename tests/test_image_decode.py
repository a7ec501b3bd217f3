"""Image decoding: what PDQ sees must not depend on how an upload happens to be encoded.

The same picture arrives as PNG, JPEG, GIF, TIFF, WebP, in every Pillow mode, rotated by an EXIF tag or
as the first frame of an animation; each must reach the hasher as the same upright 8-bit RGB pixels,
or a trivially re-encoded copy would slip past a bank. Hostile input (empty, not an image, truncated,
a header claiming billions of pixels, a decompression bomb) must be refused with a stable code and,
for the size checks, before any pixel is decoded. Every image here is generated; none is real content.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFile

from seawall.errors import InvalidInput, SeawallError, TooLarge, UnsupportedMedia
from seawall.media.image import DRAFT_MIN_SIDE, DecodeLimits, decode_image, image_size, sniff_image
from seawall.signals.pdq.signal import pdq_from_pixels

U8 = npt.NDArray[np.uint8]


# ---------------------------------------------------------------------------------------------------
# generated test images


def photo_like(h: int, w: int, seed: int = 0) -> U8:
    """A colour image with detail at every scale (roughly 1/f like a photograph), so PDQ quality is high
    and hashes react to resampling the way they do on real photos.

    Octaves of random grids are blended coarse to fine; each is built only as large as it needs to be,
    which keeps a 12 MP picture well under a second.
    """
    rng = np.random.default_rng(seed)
    img: Image.Image | None = None
    amp, total = 1.0, 0.0
    for cells in (4, 12, 40, 130, 400):
        grid = Image.fromarray(rng.integers(0, 256, (max(2, cells * h // max(h, w)), cells, 3), dtype=np.uint8))
        total += amp
        if img is None:
            img = grid
        else:
            size = (w, h) if cells * 12 >= w or cells == 400 else (cells * 12, max(2, cells * 12 * h // w))
            bicubic = Image.Resampling.BICUBIC
            img = Image.blend(img.resize(size, bicubic), grid.resize(size, bicubic), amp / total)
        amp *= 0.55
    assert img is not None
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pdq(pixels: U8) -> str:
    return pdq_from_pixels(np.ascontiguousarray(pixels))[0]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A structurally valid PNG (correct CRCs) whose IHDR claims the given size, with one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))


def gif_header_only(width: int, height: int) -> bytes:
    """A GIF whose screen and first image descriptor claim the given size, with a few bytes of LZW."""
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
            + b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00" + b";")


def bmp_header_only(width: int, height: int) -> bytes:
    """A 24-bit BMP header claiming the given size and carrying no pixel data at all."""
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0))


def png_bomb(side: int) -> bytes:
    """A 1-bit ``side``×``side`` all-black PNG: a few kB on disk, ``side``² pixels once decoded."""
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    idat = zlib.compress(row * side, 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def base() -> U8:
    """The picture every mode test re-encodes (odd sizes on purpose)."""
    return photo_like(241, 319, seed=7)


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail loudly if anything asks Pillow for pixels: size refusals must come from the header alone."""
    calls: list[str] = []

    def refuse_load(self: ImageFile.ImageFile) -> None:
        calls.append(type(self).__name__)
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_load)
    yield calls


# ---------------------------------------------------------------------------------------------------
# every Pillow mode reaches the hasher as the same picture


def _gray_u16(base: U8) -> npt.NDArray[np.uint16]:
    gray = np.asarray(Image.fromarray(base).convert("L"), np.uint16)
    return (gray * 257).astype(np.uint16)


def _mode_cases() -> dict[str, tuple[str, Callable[[U8], bytes], int]]:
    """name → (mode Pillow must report on opening, encoder from the RGB base, max PDQ bits off).

    The tolerance is 0 where the mode carries the full 8-bit luma, and looser for 1-bit dithering and
    palette quantisation, which really change the picture.
    """

    def rgb(b: U8) -> Image.Image:
        return Image.fromarray(b)

    def gray(b: U8) -> Image.Image:
        return rgb(b).convert("L")

    def with_alpha(img: Image.Image) -> Image.Image:
        alpha = np.tile(np.linspace(40, 255, img.width, dtype=np.uint8), (img.height, 1))
        img = img.copy()
        img.putalpha(Image.fromarray(alpha))
        return img

    def palette_transparent(b: U8, fmt: str) -> bytes:
        pal = rgb(b).quantize(256)
        return encode(pal, fmt, transparency=0)

    return {
        "1": ("1", lambda b: encode(gray(b).convert("1"), "PNG"), 40),
        "L": ("L", lambda b: encode(gray(b), "PNG"), 0),
        "P": ("P", lambda b: encode(rgb(b).quantize(256), "PNG"), 24),
        "P+transparency png": ("P", lambda b: palette_transparent(b, "PNG"), 24),
        "P+transparency gif": ("P", lambda b: palette_transparent(b, "GIF"), 24),
        "LA": ("LA", lambda b: encode(with_alpha(gray(b)), "PNG"), 0),
        "RGBA": ("RGBA", lambda b: encode(with_alpha(rgb(b)), "PNG"), 0),
        "CMYK tiff": ("CMYK", lambda b: encode(rgb(b).convert("CMYK"), "TIFF"), 0),
        "CMYK jpeg": ("CMYK", lambda b: encode(rgb(b).convert("CMYK"), "JPEG", quality=95), 8),
        "YCbCr tiff": ("YCbCr", lambda b: encode(rgb(b).convert("YCbCr"), "TIFF"), 2),
        "I;16 png": ("I;16", lambda b: encode(Image.fromarray(_gray_u16(b)), "PNG"), 0),
        "I;16B tiff": ("I;16B", lambda b: encode(Image.fromarray(_gray_u16(b).astype(">u2")), "TIFF"), 0),
        "I tiff": ("I", lambda b: encode(Image.fromarray(_gray_u16(b).astype(np.int32)), "TIFF"), 0),
        "F tiff": ("F", lambda b: encode(Image.fromarray(_gray_u16(b).astype(np.float32) / 65535), "TIFF"), 0),
    }


MODE_CASES = _mode_cases()


@pytest.mark.parametrize("case", list(MODE_CASES))
def test_every_mode_decodes_to_rgb_and_hashes_like_the_original(case: str, base: U8) -> None:
    """Each mode must come out as (h, w, 3) uint8 with a trustworthy hash close to the RGB original;
    a wrong conversion (inverted CMYK, clipped 16-bit, dropped palette) lands ~128 bits away."""
    expected_mode, make, tolerance = MODE_CASES[case]
    data = make(base)
    with Image.open(io.BytesIO(data)) as probe:
        assert probe.mode == expected_mode, "the fixture does not exercise the mode it names"

    pixels = decode_image(data)

    assert pixels.dtype == np.uint8
    assert pixels.shape == (base.shape[0], base.shape[1], 3)
    assert pixels.flags.c_contiguous
    value, quality = pdq_from_pixels(pixels)
    assert quality >= 50
    assert hamming(value, pdq(base)) <= tolerance


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    """A 16-bit gradient must look like its 8-bit version. Pillow's own I;16→RGB conversion clips at
    255, which turns almost every pixel white and the hash into noise."""
    h, w = 200, 300
    ramp = np.linspace(0, 65535, w)[None, :].repeat(h, 0)
    texture = photo_like(h, w, seed=3)[..., 0].astype(np.float64) * 40
    g16 = np.clip(ramp * 0.6 + texture, 0, 65535).astype(np.uint16)
    g8 = np.rint(g16 / 257.0).astype(np.uint8)

    decoded = decode_image(encode(Image.fromarray(g16), "PNG"))

    assert np.abs(decoded[..., 0].astype(int) - g8.astype(int)).max() <= 1
    assert (decoded[..., 0] == decoded[..., 2]).all()
    assert hamming(pdq(decoded), pdq(np.dstack([g8] * 3))) <= 4
    assert (decoded == 255).mean() < 0.05


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("I, 0..65535", lambda g: Image.fromarray(g.astype(np.int32))),
        ("I, negative", lambda g: Image.fromarray(g.astype(np.int32) - 40000)),
        ("F, 0..1", lambda g: Image.fromarray((g / 65535).astype(np.float32))),
        ("F, 0..65535", lambda g: Image.fromarray(g.astype(np.float32))),
    ],
)
def test_wide_integer_and_float_images_are_scaled(name: str, make: Callable[[npt.NDArray[np.uint16]], Image.Image]
                                                  ) -> None:
    """32-bit integer and float TIFFs have no fixed range; whatever it is, the picture must survive."""
    g16 = _gray_u16(photo_like(160, 200, seed=5))
    reference = pdq(np.dstack([np.rint(g16 / 257.0).astype(np.uint8)] * 3))

    decoded = decode_image(encode(make(g16), "TIFF"))

    value, quality = pdq_from_pixels(decoded)
    assert quality >= 50
    assert hamming(value, reference) <= 4, name


def test_float_image_with_nan_and_inf_still_decodes() -> None:
    """Float TIFFs use NaN/inf for "no data"; a few of them must not blank or garble the picture."""
    g = _gray_u16(photo_like(160, 200, seed=6)).astype(np.float32) / 65535
    clean = pdq(decode_image(encode(Image.fromarray(g), "TIFF")))
    dirty = g.copy()
    dirty[10, 10] = np.nan
    dirty[20, 30] = np.inf
    dirty[30, 40] = -np.inf

    with np.errstate(all="raise"):
        decoded = decode_image(encode(Image.fromarray(dirty), "TIFF"))

    value, quality = pdq_from_pixels(decoded)
    assert quality >= 50
    assert hamming(value, clean) <= 8
    assert np.ptp(decoded) > 100


# ---------------------------------------------------------------------------------------------------
# orientation and animation


#: EXIF orientation → how the stored pixels relate to the upright picture (the inverse of what a
#: viewer does to display them).
STORED_FROM_UPRIGHT: dict[int, Callable[[U8], U8]] = {
    2: lambda u: u[:, ::-1],
    3: lambda u: np.rot90(u, 2),
    4: lambda u: u[::-1],
    5: lambda u: u.transpose(1, 0, 2),
    6: lambda u: np.rot90(u, 1),  # shown after a 90° clockwise turn, so stored a quarter turn back
    7: lambda u: np.rot90(u, 2).transpose(1, 0, 2),
    8: lambda u: np.rot90(u, -1),
}


@pytest.mark.parametrize("orientation", sorted(STORED_FROM_UPRIGHT))
def test_exif_orientation_is_applied(orientation: int) -> None:
    """Phones store pixels sideways and set the EXIF tag; the hash must be that of the upright picture,
    as re-encoded without the tag. Large enough that JPEG draft decoding is also in play."""
    upright = photo_like(520, 700, seed=orientation)
    stored = np.ascontiguousarray(STORED_FROM_UPRIGHT[orientation](upright))
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = encode(Image.fromarray(stored), "JPEG", quality=92, exif=exif.tobytes())
    plain = encode(Image.fromarray(upright), "JPEG", quality=92)

    got = decode_image(tagged)
    want = decode_image(plain)

    assert got.shape == want.shape
    assert hamming(pdq(got), pdq(want)) <= 8
    # the stored pixels alone are a different picture, so this test would notice a dropped tag
    assert hamming(pdq(decode_image(encode(Image.fromarray(stored), "JPEG", quality=92))), pdq(want)) > 40


def _frames() -> list[Image.Image]:
    return [Image.fromarray(photo_like(150, 200, seed=s)) for s in (11, 12, 13)]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_uses_the_first_frame(fmt: str) -> None:
    """This signal hashes one picture; the first frame is what a viewer sees first and what other
    platforms hash, so it must be frame 0 and not a later one or a blend."""
    frames = _frames()
    kw: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    animated = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    with Image.open(io.BytesIO(animated)) as probe:
        assert getattr(probe, "n_frames", 1) == 3

    value = pdq(decode_image(animated))

    first_alone = pdq(decode_image(encode(frames[0], fmt, **kw)))
    assert hamming(value, first_alone) <= 6
    for later in frames[1:]:
        assert hamming(value, pdq(decode_image(encode(later, fmt, **kw)))) > 60


# ---------------------------------------------------------------------------------------------------
# JPEG draft decoding


def noise_texture(h: int, w: int, seed: int = 0) -> U8:
    """Random colour cells ~16 px wide and nothing coarser: little low-frequency energy, so the PDQ bits
    sit close to the median and move under any resampling. A worst case, unlike photographs."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(cells).resize((w, h), Image.Resampling.BICUBIC))


#: The 12-megapixel cases decode a full-size photo twice each: they run in ``make test``, not the fast loop.
DRAFT_CASES = [
    ("photo", 1024, 1024, 16), ("photo", 1600, 1200, 16), ("photo", 2048, 1536, 16),
    ("photo", 3000, 2000, 16), pytest.param("photo", 4000, 3000, 16, marks=pytest.mark.slow),
    ("noise", 2048, 1536, 64), pytest.param("noise", 4000, 3000, 64, marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("kind", "w", "h", "limit"), DRAFT_CASES)
def test_jpeg_draft_mode_stays_close_to_full_decode(kind: str, w: int, h: int, limit: int,
                                                    record_property: Callable[..., None]) -> None:
    """Draft decoding (1/2…1/8 scale inside libjpeg) is what makes large photos cheap; it may move the
    hash, but by no more than hashing a box-resized copy of the same size does. For photo-like images
    that is well inside the match radius; for pure fine-grained noise PDQ itself is scale-sensitive
    (tens of bits), which this records rather than hides."""
    make = photo_like if kind == "photo" else noise_texture
    data = encode(Image.fromarray(make(h, w, seed=w)), "JPEG", quality=90)

    drafted = decode_image(data, DecodeLimits(jpeg_draft=True))
    full = decode_image(data, DecodeLimits(jpeg_draft=False))

    assert full.shape == (h, w, 3)
    assert drafted.shape[0] < h and drafted.shape[1] < w, "draft mode was not used"
    assert min(drafted.shape[:2]) >= DRAFT_MIN_SIDE
    d_draft = hamming(pdq(drafted), pdq(full))
    resized = np.asarray(Image.fromarray(full).resize(drafted.shape[1::-1], Image.Resampling.BOX))
    d_resize = hamming(pdq(resized), pdq(full))
    record_property("draft_distance", d_draft)
    record_property("box_resize_distance", d_resize)
    print(f"{kind} {w}x{h}: draft {drafted.shape[1]}x{drafted.shape[0]}, PDQ distance to full decode "
          f"{d_draft} bits (box resize to the same size: {d_resize})")
    assert d_draft <= limit
    assert d_draft <= d_resize + 4


def test_small_jpeg_is_not_drafted() -> None:
    """Below twice the draft floor there is nothing to gain, so the pixels must be the full decode."""
    data = encode(Image.fromarray(photo_like(400, 600, seed=1)), "JPEG", quality=90)
    assert np.array_equal(decode_image(data), decode_image(data, DecodeLimits(jpeg_draft=False)))


# ---------------------------------------------------------------------------------------------------
# quality


def test_near_uniform_image_has_untrustworthy_quality() -> None:
    """A near-blank image hashes to noise around its median; PDQ's quality must say so (< 50), or it
    would match every other near-blank image in a bank."""
    rng = np.random.default_rng(0)
    flat = np.clip(128 + rng.integers(-1, 2, (300, 400, 1)), 0, 255).astype(np.uint8).repeat(3, 2)
    _, quality = pdq_from_pixels(decode_image(encode(Image.fromarray(flat), "PNG")))
    assert quality < 50
    _, textured_quality = pdq_from_pixels(decode_image(encode(Image.fromarray(photo_like(300, 400)), "PNG")))
    assert textured_quality >= 50


# ---------------------------------------------------------------------------------------------------
# bad input


def test_empty_file() -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_image(b"")
    assert exc.value.code == "empty_file"
    assert exc.value.status == 422
    assert not sniff_image(b"")


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n",
        b"just some text, not a picture\n" * 20,
        # a PostScript file: Pillow would hand EPS to Ghostscript, which an upload must never reach
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
    ],
    ids=["random", "pdf", "text", "eps"],
)
def test_non_image_is_unsupported_media(data: bytes) -> None:
    with pytest.raises(UnsupportedMedia) as exc:
        decode_image(data)
    assert exc.value.code == "unsupported_media_type"
    assert exc.value.status == 415


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF"])
def test_truncated_image_is_corrupt(fmt: str) -> None:
    """A cut-off upload is a broken image (422) wherever the cut falls: inside the header (Pillow then
    cannot even identify it, which must not read as "not an image", 415) or inside the pixel data
    (which must be refused, never hashed from a half-grey picture)."""
    data = encode(Image.fromarray(photo_like(200, 260, seed=2)), fmt)
    assert decode_image(data).shape == (200, 260, 3)
    for keep in (12, 40, 300, len(data) // 2, len(data) * 9 // 10):
        with pytest.raises(InvalidInput) as exc:
            decode_image(data[:keep])
        assert exc.value.code == "corrupt_image", keep
        assert exc.value.status == 422


def test_damaged_png_chunk_is_corrupt() -> None:
    """A flipped byte inside compressed PNG data fails the CRC; that is a broken file, not a picture."""
    data = bytearray(encode(Image.fromarray(photo_like(120, 160, seed=4)), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0xFF
    with pytest.raises(InvalidInput) as exc:
        decode_image(bytes(data))
    assert exc.value.code == "corrupt_image"


@pytest.mark.parametrize(
    "make", [png_header_only, gif_header_only, bmp_header_only], ids=["png", "gif", "bmp"]
)
def test_header_claiming_huge_size_is_refused_from_the_header(
    make: Callable[[int, int], bytes], no_pixel_decoding: list[str]
) -> None:
    """30000×30000 would need ~2.7 GB as RGB: the refusal must come before any pixel is decoded."""
    data = make(30000, 30000)
    assert len(data) < 200
    assert image_size(data) == (30000, 30000)

    with pytest.raises(TooLarge) as exc:
        decode_image(data)

    assert exc.value.code == "image_too_large"
    assert exc.value.status == 413
    assert "30000×30000" in exc.value.message
    assert no_pixel_decoding == []  # refused from the header: no pixel was decoded (how fast is for benchmarks)


def test_pixel_limit_boundary() -> None:
    """The limit is inclusive: exactly ``max_pixels`` decodes, one pixel fewer allowed is refused."""
    data = encode(Image.fromarray(photo_like(100, 120, seed=8)), "PNG")
    assert decode_image(data, DecodeLimits(max_pixels=12_000)).shape == (100, 120, 3)
    with pytest.raises(TooLarge):
        decode_image(data, DecodeLimits(max_pixels=11_999))


def test_decompression_bomb_is_refused_by_default_and_decodes_when_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 12 kB PNG that inflates to 100 MP (300 MB as RGB): over the 50 MP default, so refused from the
    header; an operator who raises the limit gets it decoded."""
    bomb = png_bomb(10_000)
    assert len(bomb) < 20_000
    assert DecodeLimits().max_pixels == 50_000_000

    calls: list[str] = []
    real_load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(type(self).__name__)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)

    with pytest.raises(TooLarge) as exc:
        decode_image(bomb)
    assert exc.value.code == "image_too_large"
    assert calls == []

    pixels = decode_image(bomb, DecodeLimits(max_pixels=100_000_000))
    assert calls, "the allowed decode should have loaded pixels"
    assert pixels.shape == (10_000, 10_000, 3)
    assert not pixels.any()


_MEMORY_PROBE = """
import resource, sys
sys.path[:0] = {paths!r}
from tests.test_image_decode import bmp_header_only, gif_header_only, png_bomb, png_header_only
from seawall.errors import TooLarge
from seawall.media.image import decode_image
inputs = [png_header_only(30000, 30000), gif_header_only(30000, 30000), bmp_header_only(30000, 30000),
          png_bomb(10000)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = 0
for data in inputs:
    try:
        decode_image(data)
    except TooLarge:
        refused += 1
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(refused, (after - before) // 1024)
"""


def test_size_refusals_keep_memory_low() -> None:
    """Peak RSS is per process, so measure in a fresh one: refusing every oversized input must not grow
    it by more than a few MB (decoding any one of them would take hundreds of MB)."""
    code = _MEMORY_PROBE.format(paths=sys.path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    refused, grown_mb = (int(x) for x in out.stdout.split())
    assert refused == 4
    assert grown_mb < 30


def test_oversized_error_is_a_seawall_error() -> None:
    """The API layer renders any SeawallError; the size refusal must be one, with a human sentence."""
    with pytest.raises(SeawallError) as exc:
        decode_image(png_header_only(20000, 20000))
    body = exc.value.to_dict()
    assert body["code"] == "image_too_large"
    assert "limit" in body["message"]
