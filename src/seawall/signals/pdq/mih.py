"""Multi-index hashing (MIH) over 256-bit hashes: layout planning, bucket tables, compiled kernels.

The hash is cut into ``m`` disjoint chunks. If two hashes are within Hamming distance ``r`` and chunk
``c`` is given a per-chunk radius ``s_c`` with ``sum(s_c + 1) >= r + 1``, then at least one chunk
differs by at most its ``s_c`` bits (pigeonhole). So probing, in each chunk, every value within
``s_c`` of the query's chunk value finds every true match; a full popcount then discards the rest.

Each chunk has a direct-address table (a CSR built by counting sort): ``offsets[v] .. offsets[v+1]``
is the slice of ``postings`` holding the rows whose chunk value is ``v``. The search cost is random
memory reads -- one per probed bucket plus one per candidate -- so the planner picks chunk widths
and per-chunk radii that minimise an estimate of those reads, and the kernel falls back to a
sequential scan whenever that is cheaper (small sets, very large radii, heavily clustered buckets).

This module imports numba; :mod:`seawall.signals.pdq.index` imports it lazily to keep start-up cheap.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U8 = npt.NDArray[np.uint8]
I32 = npt.NDArray[np.int32]

HASH_BITS = 256

# Cost model, in units of "one random memory read". Candidates cost a postings read plus a hash read,
# but postings of one bucket are contiguous, so a candidate costs a little more than one probe.
PROBE_COST = 1.0
CANDIDATE_COST = 1.3
SCAN_COST = 0.04  # per row of a sequential scan (32 bytes streamed + popcount)
# Below this many rows a scan is cheaper than any table and needs no memory besides the hashes.
MIN_TABLE_ROWS = 4096
MAX_CHUNK_BITS = 26


# --------------------------------------------------------------------------------------------------
# LLVM intrinsics (numba has no popcount / prefetch builtins for scalars)
# --------------------------------------------------------------------------------------------------


def _popcount_typer(typingctx, x):  # type: ignore[no-untyped-def]
    if not isinstance(x, types.Integer):
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


def _prefetch_typer(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """Read prefetch of ``arr[idx]`` (hint only, never faults)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty, _ = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [i8p, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


_popcount: Any = intrinsic(_popcount_typer)
_prefetch: Any = intrinsic(_prefetch_typer)


# --------------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _extract(w: U64, i: int, off: int, bits: int) -> np.uint64:
    """Chunk value: bits [off, off+bits) of row ``i``, bit 0 being the top bit of word 0."""
    wi = off >> 6
    sh = np.uint64(off & 63)
    b = np.uint64(bits)
    one = np.uint64(1)
    sixty4 = np.uint64(64)
    if sh + b <= sixty4:
        return (w[i, wi] >> (sixty4 - sh - b)) & ((one << b) - one)
    hi_bits = sixty4 - sh
    lo_bits = b - hi_bits
    hi = w[i, wi] & ((one << hi_bits) - one)
    lo = w[i, wi + 1] >> (sixty4 - lo_bits)
    return (hi << lo_bits) | lo


@njit(cache=True, nogil=True)
def _build_chunk(words: U64, off: int, bits: int, base: int, offsets: U32, postings: U32) -> None:
    """Counting sort of rows by one chunk value; offsets are absolute indexes into all postings."""
    n = words.shape[0]
    size = 1 << bits
    vals = np.empty(n, dtype=np.uint32)
    counts = np.zeros(size + 1, dtype=np.int64)
    for i in range(n):
        v = _extract(words, i, off, bits)
        vals[i] = np.uint32(v)
        counts[v + 1] += 1
    acc = 0
    for u in range(size + 1):
        acc += counts[u]
        counts[u] = acc
        offsets[u] = np.uint32(base + acc)
    for i in range(n):
        v = vals[i]
        postings[counts[v]] = np.uint32(i)
        counts[v] += 1


@njit(cache=True, inline="always")
def _dist(q: U64, qi: int, w: U64, i: int) -> int:
    return int(
        _popcount(q[qi, 0] ^ w[i, 0])
        + _popcount(q[qi, 1] ^ w[i, 1])
        + _popcount(q[qi, 2] ^ w[i, 2])
        + _popcount(q[qi, 3] ^ w[i, 3])
    )


@njit(cache=True, inline="always")
def _chunk_dist(q: U64, qi: int, w: U64, i: int, cmask: U64, c: int) -> int:
    return int(
        _popcount((q[qi, 0] ^ w[i, 0]) & cmask[c, 0])
        + _popcount((q[qi, 1] ^ w[i, 1]) & cmask[c, 1])
        + _popcount((q[qi, 2] ^ w[i, 2]) & cmask[c, 2])
        + _popcount((q[qi, 3] ^ w[i, 3]) & cmask[c, 3])
    )


# Prefetch distances (in loop iterations) for the three dependent stages of a probe.
_PF_TABLE = 16
_PF_POSTING = 8
_PF_WORDS = 16


@njit(cache=True, nogil=True)
def search_kernel(
    queries: U64,
    q_lo: int,
    q_hi: int,
    radius: int,
    words: U64,
    ids: I64,
    dead: U8,
    chunk_off: I64,
    chunk_bits: I64,
    budget: I64,
    table_base: I64,
    offsets: U32,
    postings: U32,
    cmask: U64,
    masks: U32,
    mask_start: I64,
    scan_limit: int,
    d_words: U64,
    d_ids: I64,
    d_dead: U8,
    d_n: int,
    out_ids: I64,
    out_dist: I32,
    out_count: I64,
) -> int:
    """Answer queries ``q_lo..q_hi`` into the output buffers; returns the first query not answered.

    A query is answered whole or not at all, so the caller can grow the buffers and resume.
    ``budget[c] < 0`` skips chunk ``c``; ``scan_limit < 0`` scans every row instead of probing.

    Each query runs in stages -- table probes, postings gather, candidate verification -- so that
    within a stage every load is independent and software prefetches a fixed distance ahead keep
    many cache misses in flight; fused, each candidate would wait on the previous chain of misses.
    """
    m = chunk_off.shape[0]
    n = words.shape[0]
    cap = out_ids.shape[0]
    wflat = words.reshape(-1)
    pos = 0
    n_probes = mask_start[mask_start.shape[0] - 1]
    probe_u = np.empty(n_probes, dtype=np.int64)
    probe_c = np.empty(n_probes, dtype=np.int32)
    r_start = np.empty(n_probes, dtype=np.int64)
    r_end = np.empty(n_probes, dtype=np.int64)
    r_chunk = np.empty(n_probes, dtype=np.int32)
    cand = np.empty(4096, dtype=np.int64)
    cand_chunk = np.empty(4096, dtype=np.int32)
    for qi in range(q_lo, q_hi):
        start_pos = pos
        overflow = False
        scan = True
        nc = 0
        if scan_limit >= 0:
            # Stage 1: bucket bounds for every probe.
            k = 0
            for c in range(m):
                if budget[c] < 0:
                    continue
                v = _extract(queries, qi, chunk_off[c], chunk_bits[c])
                tb = table_base[c]
                for t in range(mask_start[c], mask_start[c + 1]):
                    probe_u[k] = tb + np.int64(v ^ np.uint64(masks[t]))
                    probe_c[k] = c
                    k += 1
            nr = 0
            total = 0
            for t in range(k):
                if t + _PF_TABLE < k:
                    _prefetch(offsets, probe_u[t + _PF_TABLE])
                u = probe_u[t]
                s = np.int64(offsets[u])
                e = np.int64(offsets[u + 1])
                if e > s:
                    r_start[nr] = s
                    r_end[nr] = e
                    r_chunk[nr] = probe_c[t]
                    nr += 1
                    total += int(e - s)
            scan = total > scan_limit
            if not scan:
                # Stage 2: gather candidate rows.
                if total > cand.shape[0]:
                    cand = np.empty(2 * total, dtype=np.int64)
                    cand_chunk = np.empty(2 * total, dtype=np.int32)
                for j in range(nr):
                    if j + _PF_POSTING < nr:
                        _prefetch(postings, r_start[j + _PF_POSTING])
                    c32 = r_chunk[j]
                    for p in range(r_start[j], r_end[j]):
                        cand[nc] = np.int64(postings[p])
                        cand_chunk[nc] = c32
                        nc += 1
        if scan:
            for i in range(n):
                if dead[i]:
                    continue
                d = _dist(queries, qi, words, i)
                if d <= radius:
                    if pos >= cap:
                        overflow = True
                        break
                    out_ids[pos] = ids[i]
                    out_dist[pos] = d
                    pos += 1
        else:
            # Stage 3: verify with a full popcount.
            for i in range(nc):
                if i + _PF_WORDS < nc:
                    _prefetch(wflat, cand[i + _PF_WORDS] * 4)
                row = cand[i]
                d = _dist(queries, qi, words, row)
                if d > radius or dead[row]:
                    continue
                # Report only from the first probed chunk in which the row qualifies.
                c = cand_chunk[i]
                first = True
                for c2 in range(c):
                    if budget[c2] >= 0 and _chunk_dist(queries, qi, words, row, cmask, c2) <= budget[c2]:
                        first = False
                        break
                if not first:
                    continue
                if pos >= cap:
                    overflow = True
                    break
                out_ids[pos] = ids[row]
                out_dist[pos] = d
                pos += 1
        if not overflow:
            for i in range(d_n):
                if d_dead[i]:
                    continue
                d = _dist(queries, qi, d_words, i)
                if d <= radius:
                    if pos >= cap:
                        overflow = True
                        break
                    out_ids[pos] = d_ids[i]
                    out_dist[pos] = d
                    pos += 1
        if overflow:
            return qi
        out_count[qi - q_lo] = pos - start_pos
    return q_hi


# --------------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Chunk positions (bit offsets, widths) of one segment; empty means scan only."""

    offsets: tuple[int, ...] = ()
    widths: tuple[int, ...] = ()

    @property
    def m(self) -> int:
        return len(self.widths)

    def table_bytes(self) -> int:
        return sum(4 * ((1 << b) + 1) for b in self.widths)


def split_bits(m: int, total: int = HASH_BITS) -> Layout:
    """``m`` contiguous chunks of near-equal width covering ``total`` bits."""
    base, extra = divmod(total, m)
    widths = [base + (1 if i < extra else 0) for i in range(m)]
    offs = list(itertools.accumulate([0, *widths[:-1]]))
    return Layout(tuple(offs), tuple(widths))


def plan_budgets(widths: Sequence[int], n: int, radius: int) -> tuple[list[int], float] | None:
    """Per-chunk radii minimising the estimated reads, subject to ``sum(s_c + 1) >= radius + 1``.

    Marginal costs grow with ``s`` (binomials below b/2), so greedy allocation is optimal.
    ``s_c = -1`` means the chunk is not probed at all. None if the radius cannot be covered.
    """
    m = len(widths)
    per_probe = [PROBE_COST + CANDIDATE_COST * n / float(1 << b) for b in widths]
    s = [-1] * m
    heap = [(per_probe[c], c) for c in range(m)]
    heapq.heapify(heap)
    need = radius + 1
    cost = 0.0
    while need > 0:
        if not heap:
            return None
        mc, c = heapq.heappop(heap)
        s[c] += 1
        cost += mc
        need -= 1
        nxt = s[c] + 1
        if nxt <= widths[c] // 2:
            heapq.heappush(heap, (math.comb(widths[c], nxt) * per_probe[c], c))
    return s, cost


def choose_layout(n: int, radius: int = 31) -> Layout:
    """Chunking that minimises estimated reads at ``radius`` for ``n`` rows within a memory cap.

    Tables are kept to about the size of the hashes themselves (and at least 64 MiB allowed), since
    wider chunks trade memory for fewer candidates.
    """
    if n < MIN_TABLE_ROWS:
        return Layout()
    table_cap = max(64 << 20, 48 * n)
    best: tuple[float, Layout] | None = None
    for m in range(8, 33):
        layout = split_bits(m)
        if max(layout.widths) > MAX_CHUNK_BITS or layout.table_bytes() > table_cap:
            continue
        planned = plan_budgets(layout.widths, n, radius)
        if planned is None:
            continue
        cost = planned[1] + 0.02 * m  # slight preference for fewer tables at equal cost
        if best is None or cost < best[0]:
            best = (cost, layout)
    if best is None or best[0] >= n * SCAN_COST:
        return Layout()
    return best[1]


@lru_cache(maxsize=256)
def probe_masks(bits: int, s: int) -> U32:
    """All ``bits``-wide masks of popcount <= s, sorted so probes sharing a cache line are adjacent."""
    out: list[int] = []
    for k in range(s + 1):
        for combo in itertools.combinations(range(bits), k):
            v = 0
            for b in combo:
                v |= 1 << b
            out.append(v)
    arr = np.array(sorted(out), dtype=np.uint32)
    arr.setflags(write=False)
    return arr


@dataclass
class SearchPlan:
    """Per-radius probe plan of one segment (shared by all queries at that radius)."""

    budget: I64
    masks: U32
    mask_start: I64
    scan_limit: int


def chunk_masks(layout: Layout) -> U64:
    """(m, 4) word masks selecting each chunk's bits, for per-chunk distances during dedupe."""
    out = np.zeros((layout.m, 4), dtype=np.uint64)
    for c, (off, b) in enumerate(zip(layout.offsets, layout.widths, strict=True)):
        for bit in range(off, off + b):
            out[c, bit >> 6] |= np.uint64(1) << np.uint64(63 - (bit & 63))
    return out


# --------------------------------------------------------------------------------------------------
# Segment
# --------------------------------------------------------------------------------------------------


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def worker_count() -> int:
    """Threads for batch work: one per usable core (kernels release the GIL), or this process's share of
    the cores when several server processes share them (``SEAWALL_THREADS_PER_PROCESS``, see
    :mod:`seawall.threads`)."""
    share = os.environ.get("SEAWALL_THREADS_PER_PROCESS", "")
    if share.isdigit() and int(share) > 0:
        return int(share)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def pool() -> ThreadPoolExecutor:
    """Process-wide pool shared by every index, so concurrent batches cannot oversubscribe cores."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="seawall-index")
        return _POOL


@dataclass
class Segment:
    """Immutable-after-build MIH segment; rows sorted by id so id lookups are a binary search.

    Only ``dead`` (tombstones, one byte per row) is written after publication; a single byte store
    is atomic, so concurrent readers see either state.
    """

    layout: Layout
    words: U64
    ids: I64
    dead: U8
    table_base: I64
    offsets: U32
    postings: U32
    cmask: U64
    _plans: dict[int, SearchPlan] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.words.shape[0])

    @classmethod
    def build(cls, ids: I64, words: U64, layout: Layout | None = None) -> Segment:
        """Build tables for ``ids``/``words`` (ids unique). Chunks are built in parallel threads."""
        if ids.shape[0] > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            ids, words = ids[order], words[order]
            del order
        ids_s = np.array(ids, dtype=np.int64)  # always a private copy: callers may reuse theirs
        words_s = np.ascontiguousarray(words, dtype=np.uint64)
        n = ids_s.shape[0]
        if layout is None:
            layout = choose_layout(n)
        if layout.m and n * layout.m >= 2**32:
            raise ValueError("segment too large for 32-bit postings")
        sizes = [(1 << b) + 1 for b in layout.widths]
        table_base = np.zeros(layout.m + 1, dtype=np.int64)
        table_base[1:] = np.cumsum(sizes)
        offsets = np.empty(int(table_base[-1]), dtype=np.uint32)
        postings = np.empty(n * layout.m, dtype=np.uint32)

        def one(c: int) -> None:
            tb = int(table_base[c])
            _build_chunk(
                words_s,
                layout.offsets[c],
                layout.widths[c],
                c * n,
                offsets[tb : tb + sizes[c]],
                postings[c * n : (c + 1) * n],
            )

        if layout.m:
            list(pool().map(one, range(layout.m)))
        return cls(
            layout=layout,
            words=words_s,
            ids=ids_s,
            dead=np.zeros(n, dtype=np.uint8),
            table_base=table_base,
            offsets=offsets,
            postings=postings,
            cmask=chunk_masks(layout),
        )

    @classmethod
    def from_arrays(cls, layout: Layout, *, words: U64, ids: I64, dead: U8, table_base: I64,
                    offsets: U32, postings: U32) -> Segment:
        """Adopt stored arrays after checking every invariant the kernel relies on for memory safety.

        The kernel does no bounds checks, so a structurally wrong table must be refused here
        rather than read out of bounds later. Raises ValueError.
        """
        words = np.asarray(words)
        ids = np.asarray(ids)
        offsets = np.asarray(offsets)
        postings = np.asarray(postings)
        table_base = np.asarray(table_base)
        if words.dtype != np.uint64 or words.ndim != 2 or words.shape[1] != 4:
            raise ValueError("words must be (n, 4) uint64")
        n = words.shape[0]
        if ids.dtype != np.int64 or ids.shape != (n,) or np.asarray(dead).shape != (n,):
            raise ValueError("ids/dead do not match words")
        if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise ValueError("ids are not strictly increasing")
        end = 0
        for off, b in zip(layout.offsets, layout.widths, strict=True):
            if not (1 <= b <= MAX_CHUNK_BITS) or off < end or off + b > HASH_BITS:
                raise ValueError("chunk layout is invalid")
            end = off + b
        m = layout.m
        sizes = [(1 << b) + 1 for b in layout.widths]
        expect_tb = np.zeros(m + 1, dtype=np.int64)
        expect_tb[1:] = np.cumsum(sizes)
        if table_base.shape != (m + 1,) or not np.array_equal(table_base.astype(np.int64), expect_tb):
            raise ValueError("table_base does not match the layout")
        if offsets.dtype != np.uint32 or offsets.shape != (int(expect_tb[-1]),):
            raise ValueError("offsets do not match the layout")
        if postings.dtype != np.uint32 or postings.shape != (n * m,):
            raise ValueError("postings do not match the row count")
        for c in range(m):
            t = offsets[int(expect_tb[c]) : int(expect_tb[c + 1])]
            if int(t[0]) != c * n or int(t[-1]) != (c + 1) * n or not bool(np.all(t[1:] >= t[:-1])):
                raise ValueError(f"offsets of chunk {c} are not a valid prefix sum")
        if postings.shape[0] and int(postings.max()) >= n:
            raise ValueError("postings point past the last row")
        return cls(
            layout=layout,
            words=words,
            ids=ids,
            dead=np.array(dead, dtype=np.uint8),  # always a private, writable copy
            table_base=expect_tb,
            offsets=offsets,
            postings=postings,
            cmask=chunk_masks(layout),
        )

    @classmethod
    def empty(cls) -> Segment:
        return cls.build(np.empty(0, dtype=np.int64), np.empty((0, 4), dtype=np.uint64))

    def find(self, ids: I64) -> I64:
        """Row of each id, or -1 (dead rows included; callers check ``dead``)."""
        if self.n == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos_c = np.minimum(pos, self.n - 1)
        hit = self.ids[pos_c] == ids
        return np.where(hit, pos_c, -1).astype(np.int64)

    def plan(self, radius: int) -> SearchPlan:
        """Probe plan for ``radius``, cached (planning and mask generation cost Python time)."""
        cached = self._plans.get(radius)
        if cached is not None:
            return cached
        m = self.layout.m
        budget = np.full(m, -1, dtype=np.int64)
        planned = plan_budgets(self.layout.widths, self.n, radius) if m else None
        if planned is not None and planned[1] < self.n * SCAN_COST:
            budget[:] = planned[0]
            # Per query, a candidate count past this point makes a scan cheaper than the gather.
            scan_limit = max(1024, int(self.n * SCAN_COST / CANDIDATE_COST))
        else:
            scan_limit = -1
        parts = [probe_masks(b, int(s)) if s >= 0 else np.empty(0, dtype=np.uint32)
                 for b, s in zip(self.layout.widths, budget, strict=True)]
        mask_start = np.zeros(m + 1, dtype=np.int64)
        if m:
            mask_start[1:] = np.cumsum([len(p) for p in parts])
        masks = np.concatenate(parts) if m else np.empty(0, dtype=np.uint32)
        if scan_limit < 0:
            # No usable plan: drop all probes so the kernel scans.
            budget[:] = -1
            mask_start[:] = 0
            masks = np.empty(0, dtype=np.uint32)
        plan = SearchPlan(budget=budget, masks=masks, mask_start=mask_start, scan_limit=scan_limit)
        self._plans[radius] = plan
        return plan

    def nbytes(self) -> int:
        return int(
            self.words.nbytes + self.ids.nbytes + self.dead.nbytes + self.offsets.nbytes
            + self.postings.nbytes
        )
