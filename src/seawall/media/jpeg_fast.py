"""Decode an ordinary JPEG straight into an RGB array, with the same pixels Pillow's decoder gives.

Why: a 1 MP upload's decode is the largest single cost of stage 1 (about 3.3 ms of CPU, more than PDQ
with its seven rotations). Pillow's JPEG path decodes into its own 4-bytes-per-pixel image, reading the
file in blocks, and ``numpy.asarray`` then copies the pixels out again; OpenCV's ``imdecode`` runs the
same libjpeg-turbo decode (accurate integer IDCT, smooth chroma upsampling, the same 1/2, 1/4 or 1/8 DCT
scaling as Pillow's ``draft``) straight into the array, about 0.8 ms less per 1 MP upload. The pixels are
identical (``tests/test_jpeg_fast_decode.py`` compares them over subsamplings, progressive files, odd sizes
and every scale), so PDQ stays bit-exact with the reference for the pixels an upload always had.

Only the plain case takes this path: a complete 8-bit, three-component JPEG without an EXIF rotation,
whose header Pillow already parsed and whose pixel count was already checked against the limits
(:func:`seawall.media.image.decode_image` calls this after those checks). Anything else (greyscale, CMYK,
multi-picture, rotated, cut-off or trailing bytes, 12-bit, a decode OpenCV refuses, a shape that is not
what Pillow would give) returns None and Pillow decodes it as before, with its errors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

#: JPEG end-of-image marker: a file that does not end with it is cut off or carries trailing data, and
#: Pillow's own handling of those (an error, or the bytes ignored) is kept by leaving them to Pillow.
_EOI = b"\xff\xd9"
_EXIF_ORIENTATION = 0x0112
_cv2: Any = None
_FLAGS: dict[int, int] = {}


def _load() -> Any:
    """OpenCV, imported once (half a second: the server's warm-up pays it before it says ready)."""
    global _cv2
    if _cv2 is None:
        try:
            import cv2
        except ImportError:  # pragma: no cover - opencv-python-headless is a dependency
            _cv2 = False
            return _cv2
        base = cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR_RGB
        _FLAGS.update({1: base,
                       2: (cv2.IMREAD_REDUCED_COLOR_2 & ~cv2.IMREAD_COLOR) | base,
                       4: (cv2.IMREAD_REDUCED_COLOR_4 & ~cv2.IMREAD_COLOR) | base,
                       8: (cv2.IMREAD_REDUCED_COLOR_8 & ~cv2.IMREAD_COLOR) | base})
        _cv2 = cv2
    return _cv2


def draft_scale(width: int, height: int, min_side: int) -> int:
    """The DCT scale Pillow's ``draft(mode, (min_side, min_side))`` picks for this size (1, 2, 4 or 8)."""
    scale = min(width // min_side, height // min_side)
    for s in (8, 4, 2, 1):
        if scale >= s:
            return s
    return 1


def decode_plain_jpeg(data: bytes, img: Any, scale: int) -> npt.NDArray[np.uint8] | None:
    """RGB pixels (h, w, 3) of an opened Pillow JPEG ``img`` of ``data``, decoded at 1/``scale``; None when
    the file is not the plain case (see the module docstring) and Pillow must decode it."""
    if (img.format != "JPEG" or img.mode != "RGB" or getattr(img, "bits", 8) != 8 or scale not in (1, 2, 4, 8)
            or not data.endswith(_EOI) or getattr(img, "is_animated", False)):
        return None
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a malformed EXIF block: Pillow's path decides what it means
        return None
    if orientation not in (None, 1):
        return None
    cv2 = _load()
    if not cv2:
        return None
    try:
        arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _FLAGS[scale])
    except cv2.error:
        return None
    width, height = img.size
    if (arr is None or arr.dtype != np.uint8 or arr.ndim != 3
            or arr.shape != (math.ceil(height / scale), math.ceil(width / scale), 3)):
        return None
    return np.ascontiguousarray(arr)
