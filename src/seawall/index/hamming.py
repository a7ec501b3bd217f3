"""Adapter from hex-valued 256-bit perceptual hashes to the PDQ radius index."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seawall.index.base import Candidate
from seawall.index.pdq import PdqIndex


def hex_rows_to_array(values: Sequence[str]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(v) for v in values), dtype=np.uint8).reshape(-1, 32)


class Hamming256Index:
    """Exact Hamming-radius search over 256-bit hashes given as 64 hex characters."""

    def __init__(self, index: PdqIndex | None = None) -> None:
        self.index = index or PdqIndex()

    def __len__(self) -> int:
        return len(self.index)

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        self.index.add(ids, hex_rows_to_array([r[1] for r in rows]))

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        self.index.remove([r[0] for r in rows])

    def search(self, values: Sequence[str], radius: int) -> list[Candidate]:
        if not values or len(self.index) == 0:
            return []
        out: list[Candidate] = []
        for qi, hits in enumerate(self.index.search_batch(hex_rows_to_array(values), radius)):
            out.extend(Candidate(qi, int(eid), int(dist)) for eid, dist in hits)
        return out

    def memory_bytes(self) -> int:
        return int(self.index.memory_bytes())

    def save(self, path: Path) -> None:
        """Checksummed snapshot (see :mod:`seawall.index.snapshot`), written then renamed into place."""
        self.index.save(path)

    @classmethod
    def load(cls, path: Path) -> Hamming256Index:
        """Load a snapshot; :class:`seawall.index.SnapshotError` when it cannot be trusted."""
        return cls(PdqIndex.load(path))
