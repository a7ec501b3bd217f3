"""Image decoding that treats every upload as hostile.

Order matters: the header is read and the pixel count checked *before* any pixel is decoded, so a
decompression bomb costs a few hundred bytes of parsing, not gigabytes of memory. Orientation,
palette, alpha, CMYK and high-bit-depth modes are all brought to 8-bit RGB the way common hashing
pipelines do, so hashes agree with those other platforms share.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from seawall.errors import InvalidInput, TooLarge, UnsupportedMedia
from seawall.media.jpeg_fast import decode_plain_jpeg, draft_scale

# Seawall does its own pixel check with a clear error; Pillow's global guard would only warn or raise late.
Image.MAX_IMAGE_PIXELS = None

#: The JPEG decoder may scale by 1/2, 1/4 or 1/8 while decoding, never below this many pixels a side.
#: Measured (benchmarks/bench_hashing.py): at 256 a 1024² photo's PDQ moved up to 26 bits, too close to
#: the match threshold of 31; at 512 at most 10 bits, still several times faster than a full decode.
DRAFT_MIN_SIDE = 512

#: Pillow formats an upload may be parsed as. Pillow can open dozens of formats (EPS hands the file to
#: Ghostscript, others are rarely used parsers); an upload pipeline only needs the ones people post, and
#: every parser left out is attack surface removed. Anything else is refused as unsupported media.
#: (Multi-picture JPEGs from cameras open through the JPEG plugin; AVIF only when Pillow was built with it.)
Image.init()
ALLOWED_FORMATS: tuple[str, ...] = tuple(
    f for f in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF") if f in Image.OPEN
)


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Per-upload decoding limits.

    ``max_pixels`` is checked against the header before any pixel is decoded, so it bounds memory.
    ``jpeg_draft`` lets the JPEG decoder downscale by a power of two while decoding: far cheaper for
    large photos, at the cost of a few PDQ bits (the same as hashing a resized copy).
    """

    max_pixels: int = 50_000_000
    jpeg_draft: bool = True


def _starts_like_image(data: bytes) -> bool:
    """Whether the leading bytes are an image signature: such a file that Pillow cannot identify is a
    cut-off or damaged image (422), not some other kind of file (415), wherever the cut falls."""
    return data.startswith(IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _open(data: bytes) -> Image.Image:
    if not data:
        raise InvalidInput("the uploaded file is empty", code="empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as exc:
        if _starts_like_image(data):
            raise InvalidInput(
                "the file starts like an image but its header is truncated or corrupt", code="corrupt_image"
            ) from exc
        raise UnsupportedMedia(
            "the file is not an image format Seawall can decode (JPEG, PNG, GIF, WebP, BMP, TIFF…)",
            code="unsupported_media_type",
        ) from exc
    except Exception as exc:  # Pillow raises many types on malformed headers
        raise InvalidInput(f"the image header is corrupt: {exc}", code="corrupt_image") from exc


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header alone."""
    with _open(data) as img:
        return img.size


def _to_rgb(img: Image.Image) -> Image.Image:
    """Bring any Pillow mode to 8-bit RGB; high-bit-depth modes are scaled, not clipped."""
    mode = img.mode
    if mode in ("RGB",):
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            # NaN/inf ("no data" in float TIFFs) would poison min/max and cast to garbage: paint them
            # with the darkest finite value instead.
            finite = np.isfinite(arr)
            if not finite.all():
                fill = float(arr[finite].min()) if finite.any() else 0.0
                arr = np.where(finite, arr, fill)
            lo, hi = float(arr.min()), float(arr.max())
            if mode == "F" and lo >= 0.0 and hi <= 1.0:
                arr = arr * 255.0
            elif lo < 0.0 or hi > 255.0:
                arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    return img.convert("RGB")


def decode_image(data: bytes, limits: DecodeLimits | None = None) -> npt.NDArray[np.uint8]:
    """Decode the first frame of an image to an (h, w, 3) uint8 array, upright per its EXIF orientation."""
    limits = limits or DecodeLimits()
    img = _open(data)
    try:
        width, height = img.size
        if width <= 0 or height <= 0:
            raise InvalidInput("the image has no pixels", code="corrupt_image")
        if width * height > limits.max_pixels:
            raise TooLarge(
                f"the image is {width}×{height} = {width * height:,} pixels, over the limit of "
                f"{limits.max_pixels:,}",
                code="image_too_large",
            )
        try:
            if getattr(img, "is_animated", False):
                img.seek(0)
            draft = limits.jpeg_draft and img.format == "JPEG" and min(width, height) >= 2 * DRAFT_MIN_SIDE
            # the common case, a plain JPEG, decodes straight into the array (same pixels, less CPU)
            plain = decode_plain_jpeg(data, img, draft_scale(width, height, DRAFT_MIN_SIDE) if draft else 1)
            if plain is not None:
                return plain
            if draft:
                img.draft("RGB", (DRAFT_MIN_SIDE, DRAFT_MIN_SIDE))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()
                # in place: without an orientation tag, the copying form returns a copy of every pixel
                ImageOps.exif_transpose(img, in_place=True)
                rgb = _to_rgb(img)
                arr = np.asarray(rgb, dtype=np.uint8)
        except (TooLarge, InvalidInput):
            raise
        except MemoryError as exc:
            raise TooLarge("the image is too large to decode", code="image_too_large") from exc
        except Exception as exc:
            raise InvalidInput(f"the image is truncated or corrupt: {exc}", code="corrupt_image") from exc
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise InvalidInput("the image could not be converted to RGB", code="corrupt_image")
        return np.ascontiguousarray(arr)
    finally:
        img.close()


#: Leading bytes of the image formats uploads use; a file that starts like one but does not decode is a
#: broken image (422), not an opaque file.
IMAGE_MAGIC: tuple[bytes, ...] = (
    b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*",
)


def sniff_image(data: bytes) -> bool:
    """Whether the bytes start like an image (magic bytes, else a header Pillow can open)."""
    if not data:
        return False
    if data.startswith(IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)):
                return True
    except Exception:
        return False
