"""An upload's bytes plus lazily decoded views of them, so each signal decodes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from seawall.errors import InvalidInput, TooLarge
from seawall.media.image import DecodeLimits, decode_image

if TYPE_CHECKING:
    from seawall.media.language import Language
    from seawall.media.ocr import OcrOptions
    from seawall.models.records import ComputedSignal


#: Largest text item, in bytes of UTF-8. Longer posts are not what text banks hold, and every text signal
#: (normalisation, shingles, TLSH, link extraction) is linear in it: this bounds the work of one upload.
MAX_TEXT_BYTES = 1_000_000


def check_text(text: str) -> None:
    """Refuse a text item over :data:`MAX_TEXT_BYTES` (413 ``text_too_large``) or one that cannot be UTF-8 at
    all (lone surrogates, which JSON escapes can carry: 422 ``invalid_text``), before anything is computed."""
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidInput("text: contains unpaired surrogates, which are not valid UTF-8",
                               code="invalid_text") from None
    if size > MAX_TEXT_BYTES:
        raise TooLarge(f"the text is {size:,} bytes, over the limit of {MAX_TEXT_BYTES:,} bytes of UTF-8",
                       code="text_too_large")


@dataclass
class Content:
    """What a signal type computes from. ``content_type`` is one of ``image``, ``file``, ``text``, ``video``."""

    content_type: str
    data: bytes = b""
    text: str | None = None
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    #: How text in images is read; None: from the process settings (``SEAWALL_OCR_*``).
    ocr: OcrOptions | None = None
    #: Remarks for the verdict reasons from optional steps that did not run (OCR skipped, timed out…).
    notes: list[str] = field(default_factory=list)
    #: Stage 1 of an upload: slow steps (OCR) are left to stage 2, so text read from images is None here.
    defer_slow: bool = False
    #: Region hashes and ORB query already computed for this upload (by a stage-2 worker process), or None.
    region_signals: list[ComputedSignal] | None = None
    #: Where meme-style lettering is painted over the image, as 0/1 weights on the reduced copy the region
    #: hashes work on (``seawall.signals.pdq_regions``): kept by the region search so the ORB query of the
    #: same upload does not search again. None: not searched yet; ``(None,)``: searched, none found.
    lettering: tuple[npt.NDArray[np.float32] | None] | None = field(default=None, repr=False)
    _pixels: npt.NDArray[np.uint8] | None = field(default=None, repr=False)
    _ocr_done: bool = field(default=False, repr=False)
    _ocr_text: str | None = field(default=None, repr=False)
    _language: tuple[Language | None] | None = field(default=None, repr=False)

    def pixels(self) -> npt.NDArray[np.uint8]:
        """RGB pixels (h, w, 3), decoded once under the configured limits."""
        if self._pixels is None:
            self._pixels = decode_image(self.data, self.limits)
        return self._pixels

    def ocr_text(self) -> str | None:
        """Text read from an image, at most once per upload (OCR is the slow step); None for other content.

        OCR trouble (timeout, Tesseract missing or failing) gives None plus a note, never an error: the
        image's other signals still decide the upload.
        """
        if self.content_type != "image" or self.defer_slow:
            return None
        if not self._ocr_done:
            from seawall.media.ocr import OcrOptions, read_text

            result = read_text(self.pixels(), self.ocr if self.ocr is not None else OcrOptions.from_settings())
            self._ocr_done = True
            self._ocr_text = result.text
            if result.note:
                self.notes.append(result.note)
        return self._ocr_text

    def set_ocr_text(self, text: str | None) -> None:
        """Record text read from the image elsewhere (a stage-2 worker process): OCR does not run again."""
        self._ocr_done = True
        self._ocr_text = text

    def signal_text(self, *, for_query: bool = True) -> str | None:
        """What the text signals hash: the text of a text item, or the text read from an uploaded image.

        A bank image (``for_query=False``) gets no text entries from OCR: its captions and watermarks are not
        necessarily what was banned, and would match unrelated uploads; curators add the slogan as text.
        """
        if self.content_type == "text":
            return self.text
        if self.content_type == "image" and for_query:
            return self.ocr_text()
        return None

    def language(self) -> Language | None:
        """Language of :meth:`signal_text` (computed once), None when there is too little text."""
        if self._language is None:
            from seawall.media.language import detect_language

            text = self.signal_text()
            if self.defer_slow and self.content_type == "image":
                return None  # decided again with the OCR text in stage 2
            self._language = (detect_language(text),)
        return self._language[0]

    @property
    def raw_bytes(self) -> bytes:
        """Bytes that file digests are taken over (the UTF-8 text for text items)."""
        if self.text is not None and not self.data:
            return self.text.encode("utf-8")
        return self.data


def banked_kind(data: bytes) -> str:
    """What a file banked as it is counts as, from its bytes (never its declared type): a video (checked
    before images, as an animated GIF is both) gets vPDQ, an image PDQ, anything else its digests."""
    from seawall.media.image import sniff_image
    from seawall.media.video import sniff_video

    if sniff_video(data):
        return "video"
    return "image" if sniff_image(data) else "file"
