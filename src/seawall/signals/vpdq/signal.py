"""vPDQ: a video as the PDQ hashes of frames sampled at a fixed rate, compatible with the open reference.

Each sampled frame is hashed by the reference PDQ implementation (``pdqhash``), exactly as an image is,
and described as the reference vPDQ does: ``frame_number,quality,pdq_hex,timestamp_seconds``. Matching
follows the reference too: frames are a bag of hashes (order and timing are not used to decide), a
frame matches at PDQ distance ≤ 31 when both frames have quality ≥ 50, and a video matches a bank video
when the share of its (distinct, good-quality) frames that match reaches one threshold and the share of
the bank video's frames that match reaches another. The defaults are those of the reference index
used by the open hash-sharing tools (python-threatexchange ``VPDQIndex``): 80 % of the upload's frames,
0 % of the bank video's, so a clip cut from a banked video matches; raise
``SEAWALL_VPDQ_INDEX_MATCH_PERCENT`` to demand that most of the bank video be present as well.

A bank entry's value must be one whitespace-free token (hash lists are ``<signal_type> <value>``
lines), so the frame list is stored as ``v1.`` + unpadded base64url of 41-byte records (frame number
u32, quality u8, timestamp in ms u32, 32 hash bytes, big-endian): about 55 characters a frame against
~80 for the text lines. :func:`frames_to_lines` and the ``vpdq`` hash-list format give the reference
text form; :meth:`VpdqSignal.normalize` also accepts reference lines (newline- or ``;``-separated) and
python-threatexchange's JSON list of ``"pdq_hex,quality,timestamp"`` strings.

The match distance is ``100 − min(upload %, bank video %)`` rounded up: 0 when both videos are wholly
matched, and a bank threshold of ``d`` demands that at least ``100 − d`` % of both be matched on top of
the global percentages. The default threshold (100) adds no condition of its own.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import queue
import re
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pdqhash
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from seawall.errors import InvalidInput
from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.media.video import VideoFrame, VideoLimits, VideoSettings, probe_video, sample_frames
from seawall.models.records import ComputedSignal
from seawall.signals.base import SignalType

if TYPE_CHECKING:
    from seawall.config import Settings

TOKEN_PREFIX = "v1."
_RECORD = struct.Struct(">IBI32s")
#: What a stored record holds: the frame number and the timestamp in milliseconds are unsigned 32-bit.
MAX_FRAME_NUMBER = 2**32 - 1
MAX_TIMESTAMP_SECONDS = (2**32 - 1) // 1000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class VpdqSettings(BaseSettings):
    """vPDQ sampling and matching; every field maps to ``SEAWALL_VPDQ_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SEAWALL_VPDQ_", extra="ignore")

    seconds_per_hash: float = Field(default=1.0, ge=0, description="Seconds between hashed frames (0: every frame).")
    frame_distance: int = Field(default=31, ge=0, le=128, description="PDQ distance at which two frames match.")
    min_quality: int = Field(default=50, ge=0, le=100, description="Frames below this PDQ quality are ignored.")
    query_match_percent: float = Field(default=80.0, ge=0, le=100,
                                       description="Share of the upload's frames that must match a bank video.")
    index_match_percent: float = Field(default=0.0, ge=0, le=100,
                                       description="Share of the bank video's frames the upload must match.")
    hash_max_side: int = Field(default=0, ge=0,
                               description="Shrink frames whose longer side exceeds this before hashing (0: never).")
    max_frames: int = Field(default=200_000, gt=0, description="Most frames one vPDQ value may hold.")


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One line of a vPDQ hash: ``frame_number,quality,pdq_hex,timestamp_seconds``."""

    number: int
    quality: int
    pdq: str
    timestamp: float

    def line(self) -> str:
        """The reference line (timestamps printed with three decimals, as the reference does)."""
        return f"{self.number},{self.quality},{self.pdq},{self.timestamp:.3f}"


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"vpdq: {message}", code="invalid_signal_value")


# --- text forms ----------------------------------------------------------------------------------

def parse_line(line: str) -> VpdqFrame:
    """One reference line; :class:`InvalidInput` naming what is wrong."""
    parts = line.strip().split(",")
    if len(parts) != 4:
        raise _bad(f"expected 'frame_number,quality,pdq_hex,timestamp_seconds', got {line.strip()[:80]!r}")
    number_s, quality_s, pdq_s, ts_s = (p.strip() for p in parts)
    try:
        number, quality, ts = int(number_s), int(quality_s), float(ts_s)
    except ValueError:
        raise _bad(f"frame number, quality and timestamp must be numbers in {line.strip()[:80]!r}") from None
    pdq = pdq_s.lower()
    if not _HEX64.match(pdq):
        raise _bad(f"frame {number}: the PDQ hash must be 64 hexadecimal characters")
    if not 0 <= number <= MAX_FRAME_NUMBER or not 0 <= quality <= 100 or not (
            math.isfinite(ts) and 0 <= ts <= MAX_TIMESTAMP_SECONDS):
        raise _bad(f"frame {str(number)[:20]}: the frame number must be 0 to {MAX_FRAME_NUMBER:,}, the timestamp "
                   f"0 to {MAX_TIMESTAMP_SECONDS:,} seconds and the quality 0–100")
    return VpdqFrame(number, quality, pdq, round(ts, 3))


def frames_to_lines(frames: Iterable[VpdqFrame]) -> list[str]:
    """The reference text form, one line per frame, without newlines."""
    return [f.line() for f in frames]


def _canonical(frames: Sequence[VpdqFrame], max_frames: int) -> list[VpdqFrame]:
    if not frames:
        raise _bad("a vPDQ hash needs at least one frame")
    if len(frames) > max_frames:
        raise _bad(f"{len(frames):,} frames, over the limit of {max_frames:,}")
    out = sorted(frames, key=lambda f: f.number)
    for a, b in itertools.pairwise(out):
        if a.number == b.number:
            raise _bad(f"frame number {a.number} appears twice")
    if out[-1].number >= 2**32 or out[-1].timestamp * 1000 >= 2**32:
        raise _bad("frame number or timestamp out of range")
    return out


# --- compact token -------------------------------------------------------------------------------

def encode_frames(frames: Sequence[VpdqFrame]) -> str:
    """The single-token stored form (see the module docstring)."""
    raw = b"".join(
        _RECORD.pack(f.number, f.quality, round(f.timestamp * 1000), bytes.fromhex(f.pdq)) for f in frames
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_frames(token: str) -> list[VpdqFrame]:
    """Frames of a stored token; :class:`InvalidInput` when it is not one."""
    if not token.startswith(TOKEN_PREFIX):
        raise _bad(f"a stored vPDQ value starts with {TOKEN_PREFIX!r}")
    body = token[len(TOKEN_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise _bad("the value is not valid base64url") from None
    if not raw or len(raw) % _RECORD.size:
        raise _bad(f"the decoded value is not a whole number of {_RECORD.size}-byte frame records")
    frames = []
    for number, quality, ms, digest in _RECORD.iter_unpack(raw):
        if quality > 100:
            raise _bad(f"frame {number}: quality {quality} is over 100")
        frames.append(VpdqFrame(number, quality, digest.hex(), ms / 1000))
    return frames


def parse_value(value: str, max_frames: int = 200_000) -> list[VpdqFrame]:
    """Frames from any accepted form: stored token, reference lines, or python-threatexchange JSON."""
    v = value.strip() if isinstance(value, str) else ""
    if not v:
        raise _bad("the value is empty")
    if v.startswith(TOKEN_PREFIX):
        frames = decode_frames(v)
    elif v.startswith("["):
        try:
            items = json.loads(v)
        except ValueError:
            raise _bad("the JSON list is malformed") from None
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise _bad("expected a JSON list of 'pdq_hex,quality,timestamp' strings")
        frames = []
        for i, s in enumerate(items):  # that form has no frame numbers: they count from 0
            parts = s.split(",")
            if len(parts) != 3:
                raise _bad(f"expected 'pdq_hex,quality,timestamp', got {s[:80]!r}")
            frames.append(parse_line(f"{i},{parts[1]},{parts[0]},{parts[2]}"))
    else:
        frames = [parse_line(line) for line in re.split(r"[;\n]", v) if line.strip()]
    return _canonical(frames, max_frames)


# --- hashing and brute-force matching --------------------------------------------------------------

def hash_video(data: bytes, seconds_per_hash: float = 1.0, limits: VideoLimits | None = None, *,
               max_side: int = 0) -> list[VpdqFrame]:
    """vPDQ frames of a video: the reference ``pdqhash`` on every sampled frame's RGB pixels.

    Decoding runs in a second thread a few frames ahead of hashing: FFmpeg releases the GIL while it
    decodes, ``pdqhash`` does not, so the two overlap instead of taking turns.
    """
    ahead: queue.Queue[VideoFrame | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def decode() -> None:
        try:
            for frame in sample_frames(data, seconds_per_hash, limits, max_side=max_side):
                while not stop.is_set():
                    try:
                        ahead.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(None)
        except BaseException as exc:  # handed to the hashing thread, which raises it
            ahead.put(exc)

    worker = threading.Thread(target=decode, name="seawall-video-decode", daemon=True)
    worker.start()
    out = []
    try:
        while (item := ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            bits, quality = pdqhash.compute(item.pixels)
            digest = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()
            out.append(VpdqFrame(item.number, int(quality), digest, round(item.timestamp, 3)))
    finally:
        stop.set()
        worker.join()
    return out


def usable_frames(frames: Iterable[VpdqFrame], min_quality: int) -> list[VpdqFrame]:
    """Frames that take part in matching: quality ≥ ``min_quality``, first of each distinct hash (as the
    reference dedupes), in the order given."""
    seen: set[str] = set()
    out = []
    for f in frames:
        if f.quality >= min_quality and f.pdq not in seen:
            seen.add(f.pdq)
            out.append(f)
    return out


def match_percentages(query: Sequence[VpdqFrame], target: Sequence[VpdqFrame], *, frame_distance: int = 31,
                      min_quality: int = 50) -> tuple[float, float]:
    """(% of the query's frames matched, % of the target's), by the reference brute-force algorithm."""
    q = usable_frames(query, min_quality)
    t = usable_frames(target, min_quality)
    if not q or not t:
        return 0.0, 0.0
    qa = np.frombuffer(b"".join(bytes.fromhex(f.pdq) for f in q), dtype=np.uint8).reshape(-1, 32)
    ta = np.frombuffer(b"".join(bytes.fromhex(f.pdq) for f in t), dtype=np.uint8).reshape(-1, 32)
    dist = np.unpackbits(qa[:, None, :] ^ ta[None, :, :], axis=2).sum(axis=2)
    close = dist <= frame_distance
    return float(close.any(axis=1).sum() * 100 / len(q)), float(close.any(axis=0).sum() * 100 / len(t))


def video_distance(query_percent: float, target_percent: float) -> int:
    """``100 − min(…)`` rounded up, so ``distance ≤ d`` exactly when both shares are ≥ ``100 − d``."""
    return max(0, math.ceil(100 - min(query_percent, target_percent) - 1e-9))


class VpdqSignal(SignalType):
    name = "vpdq"
    seawall_only = True
    index_kind = "vpdq"
    content_types = ("video",)
    default_threshold = 100
    max_threshold = 100
    deferred = True

    def __init__(self, settings: VpdqSettings | None = None, limits: VideoLimits | None = None) -> None:
        self.settings = settings or VpdqSettings()
        self.limits = limits or VideoLimits.from_settings(VideoSettings())

    def normalize(self, value: str) -> str:
        return encode_frames(parse_value(value, self.settings.max_frames))

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        """One value per video. Its quality is the best frame's, so a video with no usable frame is
        reported as untrustworthy rather than silently matching nothing."""
        frames = hash_video(content.data, self.settings.seconds_per_hash, self.limits,
                            max_side=self.settings.hash_max_side)
        frames = _canonical(frames, self.settings.max_frames)
        return [ComputedSignal(type=self.name, value=encode_frames(frames), quality=max(f.quality for f in frames))]

    def min_quality_from(self, settings: Settings) -> int:
        """A video whose best frame is below the frame floor has no frame that could match."""
        return self.settings.min_quality

    def precheck(self, content: Content) -> None:
        """Container, codec, resolution and declared duration from the header only."""
        probe_video(content.data, self.limits)

    def distance(self, a: str, b: str) -> int:
        q, t = match_percentages(decode_frames(a), decode_frames(b), frame_distance=self.settings.frame_distance,
                                 min_quality=self.settings.min_quality)
        return video_distance(q, t)

    def create_index(self) -> SignalIndex:
        from seawall.signals.vpdq.index import VpdqIndex

        s = self.settings
        return VpdqIndex(frame_distance=s.frame_distance, min_quality=s.min_quality,
                         query_match_percent=s.query_match_percent, index_match_percent=s.index_match_percent)
