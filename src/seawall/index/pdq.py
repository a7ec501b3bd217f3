"""Exact Hamming-radius search over 256-bit PDQ hashes.

This is the simple, always-correct layout: hashes packed as four uint64 words and scanned with a
vectorised XOR + popcount.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

HashArray = npt.NDArray[np.uint8]


def pack_words(hashes: HashArray) -> npt.NDArray[np.uint64]:
    """(n, 32) bytes → (n, 4) big-endian-ordered uint64 words for popcount."""
    h = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, 32)
    return h.view(">u8").astype(np.uint64)


class PdqIndex:
    """All stored entries within Hamming distance ``radius`` of a query, exactly."""

    def __init__(self) -> None:
        self._ids = np.empty(0, dtype=np.int64)
        self._words = np.empty((0, 4), dtype=np.uint64)
        self._present: set[int] = set()

    def __len__(self) -> int:
        return len(self._present)

    def add(self, ids: npt.ArrayLike, hashes: HashArray) -> None:
        """Add entries; an id already present is left as it is."""
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        hashes_arr = np.asarray(hashes, dtype=np.uint8).reshape(-1, 32)
        keep = np.array([int(i) not in self._present for i in ids_arr], dtype=bool)
        if not keep.any():
            return
        new_ids = ids_arr[keep]
        self._present.update(int(i) for i in new_ids)
        self._ids = np.concatenate([self._ids, new_ids])
        self._words = np.concatenate([self._words, pack_words(hashes_arr[keep])])

    def remove(self, ids: Iterable[int]) -> None:
        gone = {int(i) for i in ids} & self._present
        if not gone:
            return
        mask = ~np.isin(self._ids, np.fromiter(gone, dtype=np.int64))
        self._ids = self._ids[mask]
        self._words = self._words[mask]
        self._present -= gone

    def search_batch(self, queries: HashArray, radius: int) -> list[list[tuple[int, int]]]:
        q = pack_words(queries)
        out: list[list[tuple[int, int]]] = []
        for row in q:
            d = np.bitwise_count(np.bitwise_xor(self._words, row)).sum(axis=1)
            hit = np.nonzero(d <= radius)[0]
            out.append([(int(self._ids[i]), int(d[i])) for i in hit])
        return out

    def memory_bytes(self) -> int:
        return int(self._ids.nbytes + self._words.nbytes + 64 * len(self._present))
