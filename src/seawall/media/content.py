"""An upload's bytes plus lazily decoded views of them, so each signal decodes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from seawall.media.image import DecodeLimits, decode_image


@dataclass
class Content:
    """What a signal type computes from. ``content_type`` is one of ``image``, ``file``, ``text``, ``video``."""

    content_type: str
    data: bytes = b""
    text: str | None = None
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    _pixels: npt.NDArray[np.uint8] | None = field(default=None, repr=False)

    def pixels(self) -> npt.NDArray[np.uint8]:
        """RGB pixels (h, w, 3), decoded once under the configured limits."""
        if self._pixels is None:
            self._pixels = decode_image(self.data, self.limits)
        return self._pixels

    @property
    def raw_bytes(self) -> bytes:
        """Bytes that file digests are taken over (the UTF-8 text for text items)."""
        if self.text is not None and not self.data:
            return self.text.encode("utf-8")
        return self.data
