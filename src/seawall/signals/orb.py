"""``orb``: local features of a banked picture, checked against near misses in stage 2.

Region hashes (:mod:`seawall.signals.pdq_regions`) find a re-shared copy when one of their guesses lands
within PDQ's radius. A watermark, meme lettering, a rotation or a busy screenshot often leaves the best
guess just outside it: a near miss. This signal keeps, for every picture banked as a file, its PDQ and
its ORB features (:mod:`seawall.media.orb`). In stage 2 only, the upload's PDQ forms (whole and every
region guess) select the banked pictures within ``BAND`` bits, the ``CANDIDATES`` nearest of them are
verified with ORB and a RANSAC homography, and a picture with enough consistent points is a match.

Value (bank side): ``orb1.`` + base64url of the PDQ (32 bytes), the point count (2 bytes), the points
(2 × 2 bytes each, hundredths of a pixel at the feature scale) and the descriptors (32 bytes each): about
12 KB for 300 points. The query form (``orbq1.``, never stored in a bank) carries several PDQ forms.
Distance: ``100 − consistent points`` (floored at 0); the default threshold 76 asks for 24 of them.
A Seawall-only type: pytx exports leave it out.
"""

from __future__ import annotations

import base64
import logging
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from seawall.errors import InvalidInput
from seawall.index.base import Candidate, SignalIndex
from seawall.media import orb
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.base import SignalType

log = logging.getLogger(__name__)

BANK_PREFIX = "orb1."
QUERY_PREFIX = "orbq1."
#: PDQ distance within which a banked picture is a near miss worth verifying.
BAND = 80
#: Banked pictures verified per upload at most (the nearest by PDQ).
CANDIDATES = 6
MAX_POINTS = 1000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _pack_features(f: orb.Features) -> bytes:
    pts = np.clip(np.round(f.points * 100), 0, 65535).astype(">u2")
    return struct.pack(">H", len(f)) + pts.tobytes() + f.descriptors.tobytes()


def _unpack_features(raw: bytes) -> orb.Features:
    if len(raw) < 2:
        raise ValueError("no point count")
    (n,) = struct.unpack(">H", raw[:2])
    if n > MAX_POINTS or len(raw) != 2 + n * 4 + n * 32:
        raise ValueError("point count and length disagree")
    pts = (np.frombuffer(raw[2:2 + n * 4], dtype=">u2").reshape(n, 2) / 100).astype(np.float32)
    desc = np.frombuffer(raw[2 + n * 4:], dtype=np.uint8).reshape(n, 32).copy()
    return orb.Features(pts, desc)


@dataclass(frozen=True, slots=True)
class OrbValue:
    pdqs: npt.NDArray[np.uint64]  # (k, 4)
    features: orb.Features


def encode_bank(pdq_hex: str, f: orb.Features) -> str:
    return BANK_PREFIX + _b64(bytes.fromhex(pdq_hex) + _pack_features(f))


def encode_query(pdq_hexes: Sequence[str], f: orb.Features) -> str:
    forms = list(dict.fromkeys(pdq_hexes))[:255]
    return QUERY_PREFIX + _b64(bytes([len(forms)]) + b"".join(bytes.fromhex(h) for h in forms) + _pack_features(f))


def decode(value: str) -> OrbValue:
    """Either form, or ValueError."""
    if value.startswith(BANK_PREFIX):
        raw = _unb64(value[len(BANK_PREFIX):])
        k, body = 1, raw
    elif value.startswith(QUERY_PREFIX):
        raw = _unb64(value[len(QUERY_PREFIX):])
        if not raw:
            raise ValueError("empty")
        k, body = raw[0], raw[1:]
    else:
        raise ValueError("unknown prefix")
    if len(body) < 32 * k:
        raise ValueError("too short")
    pdqs = np.frombuffer(body[:32 * k], dtype=">u8").reshape(k, 4).astype(np.uint64)
    return OrbValue(pdqs, _unpack_features(body[32 * k:]))


_WARNED = threading.Event()


def _have_opencv() -> bool:
    if orb.available():
        return True
    if not _WARNED.is_set():
        _WARNED.set()
        log.warning("opencv-python-headless is not installed: orb features are not computed (reinstall from "
                    "requirements.lock)")
    return False


def orb_query_signal(content: Content, pdq_forms: Sequence[str]) -> ComputedSignal | None:
    """The stage-2 query: the upload's PDQ forms and its ORB points (None without points or OpenCV).

    Points are not taken on meme-style lettering painted over the upload: the banked picture has none
    there, and its outlined strokes would take most of the points."""
    if content.content_type != "image" or not pdq_forms or not _have_opencv():
        return None
    from seawall.signals.pdq_regions import upload_lettering

    f = orb.features(content.pixels(), orb.QUERY_POINTS, exclude=upload_lettering(content))
    if len(f) < orb.MIN_GOOD:
        return None
    return ComputedSignal(type=OrbSignal.name, value=encode_query(pdq_forms, f), transient=True)


class OrbSignal(SignalType):
    name = "orb"
    seawall_only = True
    bank_side_only = True
    content_types = ("image",)
    default_threshold = 76
    max_threshold = 95

    def normalize(self, value: str) -> str:
        v = value.strip() if isinstance(value, str) else ""
        try:
            if not v.startswith(BANK_PREFIX):
                raise ValueError
            decode(v)
        except (ValueError, TypeError):
            raise InvalidInput("orb must be 'orb1.' and base64url of a PDQ hash, points and ORB descriptors",
                               code="invalid_signal_value") from None
        return v

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        if for_query:
            return []  # the query form is built in stage 2 from the region hashes (orb_query_signal)
        if not _have_opencv():
            return []
        from seawall.signals.pdq.signal import pdq_from_pixels

        pixels = content.pixels()
        pdq_hex, _ = pdq_from_pixels(pixels)
        f = orb.features(pixels, orb.BANK_POINTS)
        if len(f) < orb.MIN_GOOD:
            return []  # a flat picture: nothing to verify with
        return [ComputedSignal(type=self.name, value=encode_bank(pdq_hex, f))]

    def distance(self, a: str, b: str) -> int:
        if a == b:
            return 0
        fa, fb = decode(a).features, decode(b).features
        return max(0, 100 - max(orb.inliers(fa, fb), orb.inliers(fb, fa)))

    def create_index(self) -> SignalIndex:
        return OrbIndex()


def _popcount(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    return np.bitwise_count(x).sum(axis=-1).astype(np.int64)


class OrbIndex:
    """Banked pictures' PDQ and features; a query verifies its ``CANDIDATES`` nearest near misses."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._pdqs = np.zeros((0, 4), dtype=np.uint64)
        self._features: dict[int, orb.Features] = {}
        self._values: dict[int, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        fresh = []
        for entry_id, value in rows:
            try:
                fresh.append((entry_id, value, decode(value)))
            except ValueError:
                continue
        with self._lock:
            new = [(i, v, d) for i, v, d in fresh if i not in self._values]
            if not new:
                return
            for i, v, d in new:
                self._values[i] = v
                self._features[i] = d.features
            self._ids.extend(i for i, _, _ in new)
            self._pdqs = np.vstack([self._pdqs, *(d.pdqs[:1] for _, _, d in new)])

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            gone = {i for i, _ in rows if i in self._values}
            if not gone:
                return
            keep = [k for k, i in enumerate(self._ids) if i not in gone]
            self._ids = [self._ids[k] for k in keep]
            self._pdqs = self._pdqs[keep]
            for i in gone:
                del self._values[i]
                del self._features[i]

    def search(self, values: Sequence[str], radius: int) -> list[Candidate]:
        with self._lock:
            ids, pdqs, feats, stored = list(self._ids), self._pdqs, dict(self._features), dict(self._values)
        out: list[Candidate] = []
        by_value = {v: i for i, v in stored.items()}
        for qi, value in enumerate(values):
            if value in by_value:  # the stored value itself
                out.append(Candidate(qi, by_value[value], 0))
                continue
            try:
                q = decode(value)
            except ValueError:
                continue
            if not ids:
                continue
            near = np.min([_popcount(pdqs ^ form) for form in q.pdqs], axis=0)
            order = [k for k in np.argsort(near, kind="stable")[:CANDIDATES] if near[k] <= BAND]
            for k in order:
                d = max(0, 100 - orb.inliers(q.features, feats[ids[k]]))
                if d <= radius:
                    out.append(Candidate(qi, ids[k], d, detail=f"{100 - d} consistent ORB points "
                                                               f"(PDQ distance {int(near[k])})"))
        return out

    def memory_bytes(self) -> int:
        return sum(len(v) for v in self._values.values()) + 64 * len(self._values)
