"""Index of bank videos by their frames: every distinct good-quality frame hash of every video goes into
the exact PDQ radius index with a pointer back to its video, as the reference vPDQ describes for pruning
candidates. A query video's frames are searched once each; the hits are tallied per bank video into the
two shares the reference matches on, and only videos reaching both become candidates.

Candidates carry a ``detail`` sentence (both shares and the matched time ranges of each video) that the
matcher turns into a verdict reason.
"""

from __future__ import annotations

import itertools
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seawall.errors import InvalidInput
from seawall.index.base import Candidate
from seawall.signals.pdq.index import PdqIndex
from seawall.signals.vpdq.signal import VpdqFrame, decode_frames, usable_frames, video_distance

#: How many time ranges a reason lists per side before summarising the rest.
MAX_RANGES = 4


@dataclass(slots=True)
class _Video:
    slots: np.ndarray  # frame slot ids in the PDQ index, one per usable frame
    timestamps: list[float]  # of those frames, same order
    step: float  # typical spacing of its sampled frames (s), for merging matched frames into ranges


def _hashes(frames: Sequence[VpdqFrame]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(f.pdq) for f in frames), dtype=np.uint8).reshape(-1, 32)


def _step(timestamps: Sequence[float]) -> float:
    gaps = [b - a for a, b in itertools.pairwise(timestamps) if b > a]
    return statistics.median(gaps) if gaps else 1.0


def _clock(seconds: float) -> str:
    whole = int(seconds)
    h, m, s = whole // 3600, whole // 60 % 60, seconds - whole + whole % 60
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def time_ranges(timestamps: Sequence[float], step: float) -> str:
    """Matched frame times as ranges: consecutive sampled frames (gap ≤ 1.5 steps) merge into one."""
    if not timestamps:
        return "none"
    ts = sorted(timestamps)
    ranges: list[tuple[float, float]] = [(ts[0], ts[0])]
    for t in ts[1:]:
        if t - ranges[-1][1] <= 1.5 * step + 1e-6:
            ranges[-1] = (ranges[-1][0], t)
        else:
            ranges.append((t, t))
    shown = ", ".join(_clock(a) if a == b else f"{_clock(a)}–{_clock(b)}" for a, b in ranges[:MAX_RANGES])
    more = len(ranges) - MAX_RANGES
    return shown + (f" and {more} more" if more > 0 else "")


class VpdqIndex:
    """Bank videos searchable by a query video, with the reference vPDQ's two match shares."""

    def __init__(self, *, frame_distance: int = 31, min_quality: int = 50, query_match_percent: float = 80.0,
                 index_match_percent: float = 0.0) -> None:
        self.frame_distance = frame_distance
        self.min_quality = min_quality
        self.query_match_percent = query_match_percent
        self.index_match_percent = index_match_percent
        self._frames = PdqIndex()
        self._videos: dict[int, _Video] = {}
        self._slot_entry: list[int] = []
        self._slot_time: list[float] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._videos)

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        """Add (entry id, stored vPDQ value) pairs; ids already present and unreadable values are skipped
        (values are validated when written, so an unreadable one is not from this store)."""
        ids: list[int] = []
        hashes: list[np.ndarray] = []
        with self._lock:
            for entry_id, value in rows:
                if entry_id in self._videos:
                    continue
                try:
                    frames = usable_frames(decode_frames(value), self.min_quality)
                except InvalidInput:
                    continue
                first = len(self._slot_entry)
                slots = np.arange(first, first + len(frames), dtype=np.int64)
                self._slot_entry.extend([entry_id] * len(frames))
                self._slot_time.extend(f.timestamp for f in frames)
                stamps = [f.timestamp for f in frames]
                self._videos[entry_id] = _Video(slots, stamps, _step(sorted(stamps)))
                if frames:
                    ids.append(int(first))
                    hashes.append(_hashes(frames))
            if hashes:
                all_ids = np.concatenate([np.arange(i, i + len(h), dtype=np.int64) for i, h in zip(ids, hashes,
                                                                                                   strict=True)])
                self._frames.add(all_ids, np.concatenate(hashes))

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            for entry_id, _ in rows:
                video = self._videos.pop(entry_id, None)
                if video is not None and len(video.slots):
                    self._frames.remove(video.slots.tolist())

    def search(self, values: Sequence[str], radius: int) -> list[Candidate]:
        """Bank videos matching each query video (``radius`` caps the video distance, see
        :func:`seawall.signals.vpdq.signal.video_distance`); frames match within ``frame_distance``."""
        out: list[Candidate] = []
        for qi, value in enumerate(values):
            try:
                query = usable_frames(decode_frames(value), self.min_quality)
            except InvalidInput:
                continue
            if not query or not self._videos:
                continue
            hits = self._frames.search_batch(_hashes(query), self.frame_distance)
            query_hits: dict[int, set[int]] = {}
            bank_hits: dict[int, set[int]] = {}
            for fi, frame_hits in enumerate(hits):
                for slot, _dist in frame_hits:
                    entry_id = self._slot_entry[slot]
                    query_hits.setdefault(entry_id, set()).add(fi)
                    bank_hits.setdefault(entry_id, set()).add(slot)
            query_step = _step(sorted(f.timestamp for f in query))
            for entry_id, q_frames in query_hits.items():
                video = self._videos.get(entry_id)
                if video is None or not len(video.slots):
                    continue
                q_pct = len(q_frames) * 100 / len(query)
                t_pct = len(bank_hits[entry_id]) * 100 / len(video.slots)
                if q_pct < self.query_match_percent or t_pct < self.index_match_percent:
                    continue
                distance = video_distance(q_pct, t_pct)
                if distance > radius:
                    continue
                detail = (
                    f"{q_pct:.1f}% of the upload's frames ({len(q_frames)}/{len(query)}) and {t_pct:.1f}% of "
                    f"the bank video's ({len(bank_hits[entry_id])}/{len(video.slots)}) matched within PDQ distance "
                    f"{self.frame_distance}; upload "
                    f"{time_ranges([query[i].timestamp for i in q_frames], query_step)} ↔ bank video "
                    f"{time_ranges([self._slot_time[s] for s in bank_hits[entry_id]], video.step)}"
                )
                out.append(Candidate(qi, entry_id, distance, detail))
        return out

    def memory_bytes(self) -> int:
        return int(self._frames.memory_bytes() + 16 * len(self._slot_entry) + 200 * len(self._videos))
