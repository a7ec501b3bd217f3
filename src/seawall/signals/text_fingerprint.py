"""Banked text found inside a longer post, with or without its spaces: winnowed shingle fingerprints.

``text_minhash`` compares whole texts, so a banked slogan quoted inside a post ten times its length has
a Jaccard similarity near 0.1 and is missed, and a text with its spaces removed shares almost no
5-grams with the original. This signal keeps, for the de-obfuscated text with every space removed, the
*winnowed* hashes of its character 12-grams (in each window of :data:`WINDOW` consecutive 12-gram
hashes, the smallest: Schleimer, Wilkerson and Aiken's winnowing, as in MOSS). Any run of
``SHINGLE + WINDOW - 1`` characters the two texts share yields the same fingerprint in both, wherever it
sits, so the share of a banked text's fingerprints found in a post measures *containment* of the bank
text in the post, not similarity of the two. The index is an inverted list fingerprint → entries.

Value: ``wf1.<base64url of the sorted distinct uint32 fingerprints, little-endian>``.
Distance: ``100 - round(100 × share of the banked fingerprints found in the query)``.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from seawall.errors import InvalidInput
from seawall.index.base import Candidate, SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import matching_text
from seawall.signals.base import SignalType

SHINGLE = 12
WINDOW = 6
VERSION = "wf1"
#: A banked text needs this many fingerprints (about 8 words) to be worth a containment match; shorter
#: texts are left to ``text_sha256``.
MIN_FINGERPRINTS = 5
#: Banked values keep at most this many fingerprints (the first of the text, in order): enough to
#: identify a text, bounded for the index.
MAX_BANK_FINGERPRINTS = 512
#: A post is fingerprinted over its first this many characters (spaces removed): the work and the value
#: stored with the item stay bounded for megabyte-long posts.
MAX_QUERY_CHARS = 100_000
_VALUE = re.compile(r"^wf1\.([A-Za-z0-9_-]+)$")


def _squeeze(normalized: str) -> str:
    """The matching text without spaces: a text with its spaces removed meets the original."""
    return normalized.replace(" ", "")


def fingerprints(normalized: str) -> npt.NDArray[np.uint32]:
    """Winnowed 12-gram hashes of a normalised text, in text order (duplicates kept out).

    Each 12-gram's hash is the first four bytes of its BLAKE2b digest (of the 12-gram in UTF-32-LE),
    little-endian; in every window of ``WINDOW`` hashes the leftmost smallest is picked, and the picks'
    values are kept, first seen first. Both steps run compiled (:mod:`seawall.signals.fingerprint_kernel`).
    """
    from seawall.signals.fingerprint_kernel import gram_hashes, window_minima

    s = _squeeze(normalized)[:MAX_QUERY_CHARS]
    n = len(s) - SHINGLE + 1
    if n < 1:
        return np.zeros(0, dtype=np.uint32)
    hashes = gram_hashes(np.frombuffer(s.encode("utf-32-le"), dtype="<u4"), SHINGLE)
    if n <= WINDOW:
        return hashes[[int(np.argmin(hashes))]]
    # a window's pick has the window's smallest value, and only the picks' values are kept (first seen
    # first), so the windows' minima in order, duplicates dropped, are the answer
    seen = dict.fromkeys(window_minima(hashes, WINDOW).tolist())
    return np.fromiter(seen, dtype=np.uint32, count=len(seen))


#: Up to this many fingerprints they are sorted in plain Python (``np.unique`` costs more for a short post).
_PYTHON_SORT_MAX = 2000


def encode(fps: npt.NDArray[np.uint32]) -> str:
    distinct = np.array(sorted(set(fps.tolist())), dtype=np.uint32) if fps.size <= _PYTHON_SORT_MAX \
        else np.unique(fps)
    raw = distinct.astype("<u4").tobytes()
    return f"{VERSION}." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(value: str) -> npt.NDArray[np.uint32]:
    m = _VALUE.match(value)
    if m is None:
        raise InvalidInput("text_fingerprint must look like 'wf1.<base64url>'", code="invalid_signal_value")
    body = m.group(1)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("text_fingerprint is not valid base64url", code="invalid_signal_value") from exc
    if not raw or len(raw) % 4:
        raise InvalidInput("text_fingerprint must hold whole 32-bit fingerprints", code="invalid_signal_value")
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32)


class TextFingerprintSignal(SignalType):
    name = "text_fingerprint"
    seawall_only = True
    #: Images: the text OCR reads in an uploaded image (see :meth:`Content.signal_text`).
    content_types = ("text", "image")
    #: Measured in ``benchmarks/bench_robust.py``: at 40 (60 % of the banked text's fingerprints in the
    #: post) every quoted or space-stripped copy was found, and no unrelated post came within it.
    default_threshold = 40
    max_threshold = 60

    def normalize(self, value: str) -> str:
        v = value.strip() if isinstance(value, str) else ""
        decode(v)
        return v

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        text = content.signal_text(for_query=for_query)
        if not text:
            return []
        fps = fingerprints(matching_text(text))
        if fps.size < (1 if for_query else MIN_FINGERPRINTS):
            return []
        if not for_query:
            fps = fps[:MAX_BANK_FINGERPRINTS]
        return [ComputedSignal(type=self.name, value=encode(fps))]

    def distance(self, a: str, b: str) -> int:
        """How much of ``a`` (the banked text) is not in ``b`` (the post), in percent."""
        fa, fb = decode(a), decode(b)
        return 100 - round(100 * np.isin(fa, fb).sum() / max(1, fa.size))

    def create_index(self) -> SignalIndex:
        return FingerprintIndex()


class FingerprintIndex:
    """Fingerprint → entries, and each entry's fingerprint count, for containment search."""

    def __init__(self) -> None:
        self._postings: dict[int, list[int]] = defaultdict(list)
        self._sizes: dict[int, int] = {}
        self._values: dict[int, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sizes)

    def memory_bytes(self) -> int:
        return sum(8 * n + 100 for n in self._sizes.values()) + 60 * len(self._postings)

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            for entry_id, value in rows:
                if entry_id in self._sizes:
                    continue
                try:
                    fps = decode(value)
                except InvalidInput:
                    continue
                self._sizes[entry_id] = int(fps.size)
                self._values[entry_id] = value
                for fp in fps.tolist():
                    self._postings[fp].append(entry_id)

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            for entry_id, _ in rows:
                value = self._values.pop(entry_id, None)
                if value is None:
                    continue
                del self._sizes[entry_id]
                for fp in decode(value).tolist():
                    post = self._postings.get(fp)
                    if post is not None and entry_id in post:
                        post.remove(entry_id)
                        if not post:
                            del self._postings[fp]

    def search(self, values: Sequence[str], radius: int) -> list[Candidate]:
        out: list[Candidate] = []
        for qi, value in enumerate(values):
            try:
                fps = decode(value)
            except InvalidInput:
                continue
            counts: dict[int, int] = defaultdict(int)
            with self._lock:
                for fp in fps.tolist():
                    for entry_id in self._postings.get(fp, ()):
                        counts[entry_id] += 1
                sizes = {e: self._sizes[e] for e in counts}
            for entry_id, hit in counts.items():
                dist = 100 - round(100 * hit / max(1, sizes[entry_id]))
                if dist <= radius:
                    out.append(Candidate(qi, entry_id, dist))
        return out
