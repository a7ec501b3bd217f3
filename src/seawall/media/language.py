"""Which language a text (or the text read from an image) is written in, for routing and for rules.

Uses ``py3langid`` (BSD-3-Clause): a naive Bayes model over byte n-grams for 139 languages (Arabic,
Urdu, Persian, Pashto, Kurdish, Somali, Hausa, Indonesian and Malay among them), whose code and model
file both ship in the wheel under that licence, so nothing is downloaded and nothing copyleft is
bundled. ``benchmarks/bench_language.py`` compares it with the other permissively licensed detectors
on generated texts in nine languages: among those fast enough for the upload path it was the most accurate
on short phrases, and unlike whatlang (as accurate on sentences) it also knows Pashto, Somali, Kurdish,
Hausa and Malay.

The model is loaded once per process (about two seconds, ~80 MB); :func:`warm_up` lets a server do that
before its first request instead of during it. Very short inputs carry too little signal to name a
language; they get none rather than a confident guess, and so does text the model calls "not a
language" (numbers, identifiers, markup: its ``zxx`` class).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from py3langid.langid import LanguageIdentifier

#: Fewer letters than this: no language.
MIN_LETTERS = 8
#: The model reads a bounded prefix; a few sentences are plenty and keep the call well under a millisecond.
MAX_CHARS = 2000
#: The model's class for text that is not in any language.
_NOT_A_LANGUAGE = "zxx"

#: At least ``MIN_LETTERS`` letters (``[^\W\d_]``): matched from the start, each letter after a possessive
#: run of non-letters, so the match stops at the eighth letter and never backtracks (linear in the text,
#: 0.6 µs for a one-line post against 5-20 µs for a list of every letter).
_ENOUGH_LETTERS = re.compile(r"(?:[\W\d_]*+[^\W\d_]){" + str(MIN_LETTERS) + "}")
_lock = threading.Lock()
_identifier: Any = None


@dataclass(frozen=True, slots=True)
class Language:
    """ISO 639 code as the model names it (``en``, ``ar``, ``fr``, ``id``…) and the model's probability."""

    code: str
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "confidence": round(self.confidence, 2)}


class _Float32Scores(LanguageIdentifier):
    """py3langid's identifier, scoring with float32 copies of the model rows a text touches.

    Why: the model table is float16, and ``float32 vector @ float16 rows`` took numpy's mixed-type path,
    slower than widening the few rows a text touches (exact: every float16 is a float32) and multiplying
    float32 by float32 (the scoring step alone: 35 → 19 µs for a one-line post in one run on a loaded
    machine). The widening itself was then most of what was left, paid again for the same rows by every
    text: each row is now widened once, the first time a text touches it, into a float32 mirror of the
    table (16 → 8 µs per one-line post, CPU time). The mirror is allocated zeroed and untouched, so the
    memory it takes grows only with the rows texts actually use (at most twice the float16 table).
    The scores are bit-identical (``tests/test_language_scores.py`` compares both over generated texts).
    """

    __slots__ = ("_automaton", "_mirror", "_scratch")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (the float16 table mirrored, its float32 mirror, which rows are widened), one tuple so that a
        #: thread never sees parts of two (``set_languages`` replaces the model's table)
        self._mirror: tuple[Any, Any, Any] | None = None
        #: The n-gram automaton as arrays for :func:`seawall.media.language_kernel.visited_features`.
        self._automaton = (np.asarray(self.tk_nextmove, dtype=np.uint32),
                           np.asarray(self._rowbase, dtype=np.int64), np.asarray(self.tk_output, dtype=np.int64))
        #: Per thread: one zeroed count slot per feature, reused (the kernel leaves it zeroed).
        self._scratch = threading.local()

    def _raw_score(self, text: Any) -> Any:
        """py3langid's ``_raw_score`` with the byte walk compiled (same features, same order, same counts)."""
        from seawall.media.language_kernel import visited_features

        counts = getattr(self._scratch, "counts", None)
        if counts is None:
            counts = self._scratch.counts = np.zeros(self._automaton[2].max() + 1, dtype=np.int32)
        nextmove, rowbase, output = self._automaton
        idx, seen = visited_features(nextmove, rowbase, output, np.frombuffer(text, dtype=np.uint8), counts)
        if idx.size:
            return self._scores(idx, seen.astype(np.float32), self.nb_ptc)
        return super()._raw_score(b"")  # no features: py3langid's own fill

    def _sparse_score(self, visits: dict[int, int], table: Any) -> Any:
        idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        return self._scores(idx, counts, table)

    def _scores(self, idx: Any, counts: Any, table: Any) -> Any:
        """NB log-posterior of features ``idx`` seen ``counts`` times, over float32 rows (see the class)."""
        mirror = self._mirror
        if mirror is None or mirror[0] is not table:
            # zeroed pages: the operating system maps them on first write
            mirror = self._mirror = (table, np.zeros(table.shape, dtype=np.float32),
                                     np.zeros(table.shape[0], dtype=bool))
        _, rows32, widened = mirror
        fresh = idx[~widened[idx]]
        if fresh.size:
            # rows before flags: a thread that sees a row flagged finds it written (racing threads write
            # the same values)
            rows32[fresh] = table[fresh]
            widened[fresh] = True
        return np.log1p(counts) @ rows32[idx] + self.nb_pc


def _get_identifier() -> Any:
    """One identifier per process, loaded on first use from the model file inside the installed package."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE

            _identifier = _Float32Scores.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def warm_up() -> None:
    """Load the model now (servers call it at start, so the first upload does not wait for it)."""
    _get_identifier()


def detect_language(text: str | None) -> Language | None:
    """The most likely language of the text, or None when it is too short, has no letters or is no language."""
    if not text:
        return None
    # every run of whitespace as one space, none at the ends (``str.split`` and ``\s`` know the same spaces)
    flat = " ".join(text[: MAX_CHARS * 2].split())
    if _ENOUGH_LETTERS.match(flat) is None:
        return None
    code, confidence = _get_identifier().classify(flat[:MAX_CHARS])
    if not code or code == _NOT_A_LANGUAGE:
        return None
    return Language(code=str(code), confidence=float(confidence))


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
