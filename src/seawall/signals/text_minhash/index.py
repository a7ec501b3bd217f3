"""MinHash LSH index for ``text_minhash``: band buckets for candidates, exact slot comparison to verify.

Each signature is cut into ``bands`` bands of ``rows`` slots; two texts become candidates when any band
is identical, which happens with probability ``1 - (1 - J**rows) ** bands`` at Jaccard similarity J.
Every candidate is then scored on all slots, so the distance reported is the estimate over the whole
signature, never the band collision alone. With 3-slot bands (42 bands over 126 slots) a pair at
J = 0.5 (distance 50, the default threshold) is found with probability 0.996, at J = 0.45 with 0.98.

Up to ``scan_limit`` entries the index does not use the bands at all and compares the query with every
signature (one vectorised comparison), so small banks never miss a match within the radius.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from seawall.errors import InvalidInput
from seawall.index.base import Candidate
from seawall.signals.text_minhash.signal import NUM_PERM, decode

DEFAULT_ROWS = 3
DEFAULT_SCAN_LIMIT = 20_000


def candidate_probability(jaccard: float, rows: int = DEFAULT_ROWS, bands: int = NUM_PERM // DEFAULT_ROWS) -> float:
    """Chance that two signatures with this similarity share at least one band."""
    return float(1.0 - (1.0 - jaccard**rows) ** bands)


class MinHashIndex:
    """Signatures in one growable matrix, band buckets mapping band bytes → matrix rows."""

    def __init__(self, *, rows: int = DEFAULT_ROWS, scan_limit: int = DEFAULT_SCAN_LIMIT) -> None:
        self.rows = rows
        self.bands = NUM_PERM // rows
        self.scan_limit = scan_limit
        self._sigs: npt.NDArray[np.uint32] = np.zeros((0, NUM_PERM), dtype=np.uint32)
        self._ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._live: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._n = 0
        self._row_of: dict[int, int] = {}
        self._buckets: list[dict[bytes, list[int]]] = [{} for _ in range(self.bands)]
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._row_of)

    def memory_bytes(self) -> int:
        per_bucket_ref = 8 + 60  # list slot + share of dict key/list overhead, a rough figure
        return int(self._sigs.nbytes + self._ids.nbytes + len(self._row_of) * (100 + self.bands * per_bucket_ref))

    def _band_keys(self, sig: npt.NDArray[np.uint32]) -> list[bytes]:
        raw = sig[: self.bands * self.rows].tobytes()
        step = 4 * self.rows
        return [raw[i * step:(i + 1) * step] for i in range(self.bands)]

    def _grow(self, need: int) -> None:
        cap = self._sigs.shape[0]
        if need <= cap:
            return
        new_cap = max(need, cap * 2, 64)
        sigs = np.zeros((new_cap, NUM_PERM), dtype=np.uint32)
        sigs[: self._n] = self._sigs[: self._n]
        ids = np.zeros(new_cap, dtype=np.int64)
        ids[: self._n] = self._ids[: self._n]
        live = np.zeros(new_cap, dtype=bool)
        live[: self._n] = self._live[: self._n]
        self._sigs, self._ids, self._live = sigs, ids, live

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        decoded: list[tuple[int, npt.NDArray[np.uint32]]] = []
        for entry_id, value in rows:
            try:
                decoded.append((int(entry_id), decode(value)))
            except InvalidInput:
                continue  # a value from another algorithm version can never match; skip, do not crash
        with self._lock:
            self._grow(self._n + len(decoded))
            for entry_id, sig in decoded:
                if entry_id in self._row_of:
                    continue
                r = self._n
                self._n += 1
                self._sigs[r] = sig
                self._ids[r] = entry_id
                self._live[r] = True
                self._row_of[entry_id] = r
                for b, key in enumerate(self._band_keys(sig)):
                    self._buckets[b].setdefault(key, []).append(r)

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            for entry_id, _ in rows:
                r = self._row_of.pop(int(entry_id), None)
                if r is None:
                    continue
                self._live[r] = False
                for b, key in enumerate(self._band_keys(self._sigs[r])):
                    bucket = self._buckets[b].get(key)
                    if bucket is not None and r in bucket:
                        bucket.remove(r)
                        if not bucket:
                            del self._buckets[b][key]

    def _candidates(self, sig: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
        if self._n <= self.scan_limit:
            return np.flatnonzero(self._live[: self._n])
        found: set[int] = set()
        for b, key in enumerate(self._band_keys(sig)):
            bucket = self._buckets[b].get(key)
            if bucket:
                found.update(bucket)
        return np.fromiter(found, dtype=np.int64, count=len(found))

    def search(self, values: Sequence[str], radius: int) -> list[Candidate]:
        out: list[Candidate] = []
        min_equal = NUM_PERM * (100 - radius - 0.5) / 100  # distance ≤ radius ⇔ round(100·eq/P) ≥ 100 − radius
        for qi, value in enumerate(values):
            try:
                sig = decode(value)
            except InvalidInput:
                continue
            with self._lock:
                cand = self._candidates(sig)
                if cand.size == 0:
                    continue
                cand = cand[self._live[cand]]
                equal = np.count_nonzero(self._sigs[cand] == sig, axis=1)
                ids = self._ids[cand]
            keep = equal >= min_equal
            for eid, eq in zip(ids[keep].tolist(), equal[keep].tolist(), strict=True):
                dist = 100 - round(100 * eq / NUM_PERM)
                if dist <= radius:
                    out.append(Candidate(qi, int(eid), dist))
        return out

    def stats(self) -> dict[str, int]:
        """Bucket sizes, to spot a skewed bank (many near-identical entries share buckets)."""
        sizes = [len(v) for bucket in self._buckets for v in bucket.values()]
        return {"entries": len(self), "buckets": len(sizes), "largest_bucket": max(sizes, default=0)}
