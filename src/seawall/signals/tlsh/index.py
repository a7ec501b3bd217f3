"""TLSH radius search: an exact lower bound over every stored digest in one compiled pass, then ``tlsh.diff``.

A TLSH 4 digest (``T1`` + 35 bytes) is a checksum byte, a length byte ``L``, a byte holding two quartile
ratios ``q1``/``q2``, and a 32-byte body of 128 two-bit codes. ``tlsh.diff`` (length included) is the sum
of independent parts: a length term (``|ΔL|`` mod 256; 1 when it is 1, 12 per step beyond), a term per
quartile ratio (``|Δq|`` mod 16; 12 per step beyond the first), 1 when the checksums differ, and the
body distance (per code ``|a − b|``, a difference of 3 counting 6). Every part is ≥ 0, so any partial sum
is a lower bound on the distance.

The scan adds the header terms first (a text of a very different length is out after one subtraction),
then the body byte by byte through a 256×256 table, and leaves a row as soon as the partial sum passes
the radius. For a row that stays within it, the sum is complete and *is* ``tlsh.diff`` (the test suite
checks the parts add up to it), so no Python call is made per hit. Nothing within the radius is skipped.

Limits, measured in ``benchmarks/bench_text.py --only-tlsh`` (a shared, busy 2-core machine, one core
used): at radius 40 about 6,000 lookups/s against 10,000 digests and about 110 against 100,000 (the naive
loop calling ``tlsh.diff`` on every digest: 92 and 1.1; the previous numpy scan of the body bound: 22×
slower). The scan is linear in the bank: TLSH body distances between unrelated texts are spread too
evenly for bucketing by body prefix to prune much at useful radii, and the distance is not a metric (a
code step of 3 counts 6), so metric trees would need a looser bound. Beyond a few hundred thousand TLSH
entries per node, rely on ``text_minhash`` (LSH-indexed) for near duplicates and keep TLSH banks small.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt
from numba import njit

from seawall.index.base import Candidate

BODY_BYTES = 32
#: checksum, L, q1, q2
HEAD_FIELDS = 4


@cache
def body_table() -> npt.NDArray[np.int32]:
    """Body distance between every pair of digest bytes (four 2-bit codes each)."""
    a = np.arange(256, dtype=np.int32)[:, None]
    b = np.arange(256, dtype=np.int32)[None, :]
    total = np.zeros((256, 256), dtype=np.int32)
    for k in range(4):
        d = np.abs(((a >> (2 * k)) & 3) - ((b >> (2 * k)) & 3))
        total += np.where(d == 3, 6, d).astype(np.int32)
    return total


def _swap_nibbles(x: int) -> int:
    return ((x & 0x0F) << 4) | (x >> 4)


def parse(value: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]] | None:
    """(head [checksum, L, q1, q2], body) of a normalised ``T1`` digest, or None if it is not one.

    The digest prints its checksum and length bytes with their nibbles swapped; the swap is undone so that
    the length distance is computed on the real value, as ``tlsh.diff`` does.
    """
    hexpart = value[2:] if value.startswith("T1") else value
    try:
        raw = bytes.fromhex(hexpart)
    except ValueError:
        return None
    if len(raw) != 3 + BODY_BYTES:
        return None
    head = np.array([_swap_nibbles(raw[0]), _swap_nibbles(raw[1]), raw[2] >> 4, raw[2] & 0x0F], dtype=np.uint8)
    return head, np.frombuffer(raw[3:], dtype=np.uint8)


@njit(cache=True, inline="always")
def _mod_diff(x: int, y: int, r: int) -> int:
    d = x - y if x >= y else y - x
    return d if d <= r - d else r - d


@njit(cache=True, nogil=True)
def _within(q_head: npt.NDArray[np.uint8], q_body: npt.NDArray[np.uint8], heads: npt.NDArray[np.uint8],
            bodies: npt.NDArray[np.uint8], live: npt.NDArray[np.bool_], n: int, radius: int,
            table: npt.NDArray[np.int32], out: npt.NDArray[np.int64],
            dist: npt.NDArray[np.int64]) -> int:  # pragma: no cover - compiled
    """Rows within the radius and their distances, written to ``out`` and ``dist``; returns how many."""
    found = 0
    ql, q1, q2, qc = int(q_head[1]), int(q_head[2]), int(q_head[3]), int(q_head[0])
    for i in range(n):
        if not live[i]:
            continue
        d = _mod_diff(ql, int(heads[i, 1]), 256)
        bound = d if d <= 1 else d * 12
        d = _mod_diff(q1, int(heads[i, 2]), 16)
        bound += d if d <= 1 else (d - 1) * 12
        d = _mod_diff(q2, int(heads[i, 3]), 16)
        bound += d if d <= 1 else (d - 1) * 12
        if int(heads[i, 0]) != qc:
            bound += 1
        if bound > radius:
            continue
        for j in range(32):
            bound += table[q_body[j], bodies[i, j]]
            if bound > radius:
                break
        if bound <= radius:
            out[found] = i
            dist[found] = bound
            found += 1
    return found


class TlshIndex:
    def __init__(self) -> None:
        self._heads: npt.NDArray[np.uint8] = np.zeros((0, HEAD_FIELDS), dtype=np.uint8)
        self._bodies: npt.NDArray[np.uint8] = np.zeros((0, BODY_BYTES), dtype=np.uint8)
        self._ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._live: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._row_of: dict[int, int] = {}
        self._n = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._row_of)

    def memory_bytes(self) -> int:
        return int(self._heads.nbytes + self._bodies.nbytes + self._ids.nbytes + len(self._row_of) * 200)

    def _grow(self, need: int) -> None:
        cap = self._bodies.shape[0]
        if need <= cap:
            return
        new_cap = max(need, cap * 2, 64)
        heads = np.zeros((new_cap, HEAD_FIELDS), dtype=np.uint8)
        heads[: self._n] = self._heads[: self._n]
        bodies = np.zeros((new_cap, BODY_BYTES), dtype=np.uint8)
        bodies[: self._n] = self._bodies[: self._n]
        ids = np.zeros(new_cap, dtype=np.int64)
        ids[: self._n] = self._ids[: self._n]
        live = np.zeros(new_cap, dtype=bool)
        live[: self._n] = self._live[: self._n]
        self._heads, self._bodies, self._ids, self._live = heads, bodies, ids, live

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            self._grow(self._n + len(rows))
            for entry_id, value in rows:
                parsed = parse(value)
                if parsed is None or int(entry_id) in self._row_of:
                    continue
                r = self._n
                self._n += 1
                self._heads[r], self._bodies[r] = parsed
                self._ids[r] = int(entry_id)
                self._live[r] = True
                self._row_of[int(entry_id)] = r

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            for entry_id, _ in rows:
                r = self._row_of.pop(int(entry_id), None)
                if r is not None:
                    self._live[r] = False

    def search(self, values: Sequence[str], radius: int) -> list[Candidate]:
        table = body_table()
        out: list[Candidate] = []
        for qi, value in enumerate(values):
            parsed = parse(value)
            if parsed is None:
                continue
            q_head, q_body = parsed
            with self._lock:
                n = self._n
                rows = np.empty(n, dtype=np.int64)
                dist = np.empty(n, dtype=np.int64)
                found = _within(q_head, q_body, self._heads, self._bodies, self._live, n, int(radius), table, rows,
                                dist)
                ids = self._ids[rows[:found]].tolist()
            out.extend(Candidate(qi, eid, d) for eid, d in zip(ids, dist[:found].tolist(), strict=True))
        return out
