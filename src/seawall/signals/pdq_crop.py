"""PDQ hashes of crops of a banked picture, so cropped re-uploads (and pictures with a band cut off) match.

A crop cannot be undone from the query side: the lost edge is simply not in the upload. When a picture
is banked as a file, Seawall has its pixels and can hash the crops people make: the centre at two sizes
and each side cut at four depths. Each is stored as its own ``pdq_crop`` bank entry (in its own index,
so a bank's ``pdq`` list stays the list of originals partners expect), and an upload's queued region
hashes (:mod:`seawall.signals.pdq_regions`) are looked up here too. A bank filled from a shared hash list
has no pixels and gets none of these.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.pdq.signal import PdqSignal, pdq_from_pixels

U8 = npt.NDArray[np.uint8]

#: Centre crops: this share of each dimension removed, half from each side.
CENTRE_SHARES: tuple[float, ...] = (0.07, 0.13)
#: One-side crops: this share removed from one side (each of the four).
SIDE_SHARES: tuple[float, ...] = (0.05, 0.10, 0.16, 0.25)
#: Top-and-bottom crops (a caption line cut off at each end, as meme text is): this share from each end.
ENDS_SHARES: tuple[float, ...] = (0.12, 0.2)


def crops(pixels: U8) -> list[tuple[str, U8]]:
    """The crops banked for a picture, named for the verdict's reasons."""
    h, w = pixels.shape[:2]
    out: list[tuple[str, U8]] = []
    for p in CENTRE_SHARES:
        dy, dx = round(h * p / 2), round(w * p / 2)
        out.append((f"centre {1 - p:.0%}", pixels[dy:h - dy, dx:w - dx]))
    for p in SIDE_SHARES:
        dy, dx = round(h * p), round(w * p)
        out += [(f"top {p:.0%} cut", pixels[dy:]), (f"bottom {p:.0%} cut", pixels[:h - dy]),
                (f"left {p:.0%} cut", pixels[:, dx:]), (f"right {p:.0%} cut", pixels[:, :w - dx])]
    for p in ENDS_SHARES:
        dy = round(h * p)
        out.append((f"top and bottom {p:.0%} cut", pixels[dy:h - dy]))
    return out


class PdqCropSignal(PdqSignal):
    """Crops of banked pictures; computed on the bank side only (queries come from the region hashes)."""

    name = "pdq_crop"
    seawall_only = True
    bank_side_only = True
    account_evidence = ""  # avatars are hashed once, as ``pdq``
    content_types = ("image",)

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        if for_query:
            return []  # looked up from the queued region hashes, not in the request
        out: list[ComputedSignal] = []
        for _, region in crops(content.pixels()):
            value, quality = pdq_from_pixels(np.ascontiguousarray(region))
            out.append(ComputedSignal(self.name, value, quality))
        return out
