"""Generated pictures and the eight rotations/flips, shared by the PDQ tests (never real content)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image

U8 = npt.NDArray[np.uint8]

#: What each dihedral variant name means, in numpy terms, on an (h, w, 3) array, written independently
#: of the module under test. ``rotate90`` is a quarter turn counter-clockwise (``np.rot90``); ``flip_x``
#: mirrors top↔bottom; ``flip_plus1`` is the transpose, ``flip_minus1`` the anti-transpose.
TRANSFORMS: dict[str, Callable[[U8], U8]] = {
    "original": lambda x: x,
    "rotate90": lambda x: np.rot90(x, 1),
    "rotate180": lambda x: np.rot90(x, 2),
    "rotate270": lambda x: np.rot90(x, 3),
    "flip_x": lambda x: x[::-1],
    "flip_y": lambda x: x[:, ::-1],
    "flip_plus1": lambda x: x.transpose(1, 0, 2),
    "flip_minus1": lambda x: np.rot90(x, 2).transpose(1, 0, 2),
}


def photo_like(h: int, w: int, seed: int = 0) -> U8:
    """Colour detail at several scales but few sharp features, roughly like a photograph: quality is
    high, and it is the kind of picture on which a half-pixel shift of PDQ's sampling grid moves the
    most bits."""
    rng = np.random.default_rng(seed)
    img: Image.Image | None = None
    amp, total = 1.0, 0.0
    for cells in (4, 12, 40, 130):
        grid = Image.fromarray(rng.integers(0, 256, (max(2, cells * h // max(h, w)), cells, 3), dtype=np.uint8))
        layer = grid.resize((w, h), Image.Resampling.BICUBIC)
        total += amp
        img = layer if img is None else Image.blend(img, layer, amp / total)
        amp *= 0.55
    assert img is not None
    return np.asarray(img)
