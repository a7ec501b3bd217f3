"""Exact Hamming-radius search over 256-bit PDQ hashes, and the adapter from hex values to it.

:class:`PdqIndex` answers "every stored entry within distance r" exactly -- the same set a full
scan returns -- using multi-index hashing (:mod:`seawall.signals.pdq.mih`) over a large immutable base
segment plus a small scanned delta segment that takes new entries at once. Deletes are tombstones.
When the delta grows past a threshold it is folded into a fresh base in a background thread while
searches continue on the previously published arrays, so updates never stall lookups.

:class:`BruteForcePdqIndex` is the plain vectorised scan, kept as the exactness reference.
:class:`Hamming256Index` is the :class:`seawall.index.base.SignalIndex` face of :class:`PdqIndex`: rows of
(entry id, 64 hex characters) in, :class:`Candidate` out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from seawall.index.base import Candidate
from seawall.index.snapshot import SnapshotError, read_snapshot, write_snapshot

if TYPE_CHECKING:
    from seawall.signals.pdq.mih import Segment

HashArray = npt.NDArray[np.uint8]

SNAPSHOT_KIND = "seawall.pdq-index"
MAX_DISTANCE = 256


def pack_words(hashes: HashArray) -> npt.NDArray[np.uint64]:
    """(n, 32) bytes → (n, 4) big-endian-ordered uint64 words for popcount."""
    h = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, 32)
    return h.view(">u8").astype(np.uint64)


def hamming(a: HashArray, b: HashArray) -> npt.NDArray[np.int64]:
    """Row-wise Hamming distance between two (n, 32) byte arrays."""
    x = np.bitwise_xor(pack_words(a), pack_words(b))
    return np.bitwise_count(x).sum(axis=1).astype(np.int64)


def _as_hashes(hashes: Any) -> HashArray:
    arr = np.asarray(hashes, dtype=np.uint8)
    if arr.size % 32:
        raise ValueError("PDQ hashes must be 32 bytes each")
    return arr.reshape(-1, 32)


class BruteForcePdqIndex:
    """All stored entries within Hamming distance ``radius`` of a query, by scanning every entry.

    Always correct and trivially so; the reference the multi-index layout is checked against.
    """

    def __init__(self) -> None:
        self._ids = np.empty(0, dtype=np.int64)
        self._words = np.empty((0, 4), dtype=np.uint64)
        self._present: set[int] = set()

    def __len__(self) -> int:
        return len(self._present)

    def add(self, ids: npt.ArrayLike, hashes: HashArray) -> None:
        """Add entries; an id already present is left as it is."""
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        hashes_arr = _as_hashes(hashes)
        keep = np.zeros(ids_arr.shape[0], dtype=bool)
        for k, i in enumerate(ids_arr.tolist()):
            if i not in self._present:
                self._present.add(i)
                keep[k] = True
        if not keep.any():
            return
        self._ids = np.concatenate([self._ids, ids_arr[keep]])
        self._words = np.concatenate([self._words, pack_words(hashes_arr[keep])])

    def remove(self, ids: Iterable[int]) -> None:
        """Forget entries; unknown ids are ignored."""
        gone = {int(i) for i in ids} & self._present
        if not gone:
            return
        mask = ~np.isin(self._ids, np.fromiter(gone, dtype=np.int64))
        self._ids = self._ids[mask]
        self._words = self._words[mask]
        self._present -= gone

    def search(self, query: HashArray, radius: int) -> list[tuple[int, int]]:
        """(id, distance) of every entry within ``radius`` of one 32-byte query."""
        return self.search_batch(_as_hashes(query)[:1], radius)[0]

    def search_batch(self, queries: HashArray, radius: int) -> list[list[tuple[int, int]]]:
        """One result list per query row."""
        q = pack_words(_as_hashes(queries))
        out: list[list[tuple[int, int]]] = []
        for row in q:
            d = np.bitwise_count(np.bitwise_xor(self._words, row)).sum(axis=1)
            hit = np.nonzero(d <= radius)[0]
            out.append([(int(self._ids[i]), int(d[i])) for i in hit])
        return out

    def memory_bytes(self) -> int:
        return int(self._ids.nbytes + self._words.nbytes + 64 * len(self._present))


class _View(NamedTuple):
    """What a search reads: published atomically; arrays are never changed except tombstones."""

    base: Segment
    d_words: npt.NDArray[np.uint64]
    d_ids: npt.NDArray[np.int64]
    d_dead: npt.NDArray[np.uint8]
    d_n: int


_EMPTY_U64 = np.empty((0, 4), dtype=np.uint64)


class PdqIndex:
    """All stored entries within Hamming distance ``radius`` of a query, exactly.

    Thread safety: searches never lock -- they read the currently published view. ``add``/``remove``
    serialise on a lock; a merge builds the new base outside the lock and swaps it in.

    ``delta_limit`` is how many new entries are scanned linearly before they are folded into the
    base (``None`` picks one from the base size); ``background_merge=False`` merges inline, which
    makes timing deterministic for tests and batch jobs. ``chunks`` fixes the number of MIH chunks
    instead of choosing it from the base size (for tuning and tests).
    """

    #: Whether :meth:`load` folded an oversized delta into the base (the snapshot is worth saving again).
    merged_on_load = False

    def __init__(self, *, delta_limit: int | None = None, background_merge: bool = True,
                 chunks: int | None = None) -> None:
        from seawall.signals.pdq import mih

        self._mih = mih
        self._chunks = chunks
        self._lock = threading.RLock()
        self._merge_lock = threading.Lock()
        self._delta_limit_opt = delta_limit
        self._background = background_merge
        self._merge_thread: threading.Thread | None = None
        self._removed_during_merge: list[int] | None = None
        self._base_live = 0
        self._set_base(mih.Segment.empty(), {}, _EMPTY_U64, np.empty(0, dtype=np.int64))

    # ------------------------------------------------------------------ state

    def _set_base(self, base: Segment, d_pos: dict[int, int], d_words: npt.NDArray[np.uint64],
                  d_ids: npt.NDArray[np.int64]) -> None:
        """Install a base and a (live-only) delta; caller holds the lock or owns the object."""
        cap = max(1024, 2 * d_ids.shape[0])
        self._d_words = np.zeros((cap, 4), dtype=np.uint64)
        self._d_ids = np.zeros(cap, dtype=np.int64)
        self._d_dead = np.zeros(cap, dtype=np.uint8)
        n = d_ids.shape[0]
        self._d_words[:n] = d_words
        self._d_ids[:n] = d_ids
        self._d_n = n
        self._d_pos = d_pos
        self._base_live = int(base.n - np.count_nonzero(base.dead))
        self._publish(base)

    def _publish(self, base: Segment) -> None:
        self._view = _View(base, self._d_words, self._d_ids, self._d_dead, self._d_n)

    def _delta_limit(self, base_n: int) -> int:
        if self._delta_limit_opt is not None:
            return max(1, self._delta_limit_opt)
        # A scanned row costs ~1 ns per query; keep the delta well below the base's probe cost.
        return int(min(32768, max(4096, base_n // 256)))

    def __len__(self) -> int:
        return self._base_live + len(self._d_pos)

    # ------------------------------------------------------------------ updates

    def _filter_new(self, ids_arr: npt.NDArray[np.int64], words: npt.NDArray[np.uint64]
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
        """Drop ids already present (and repeats within the batch, keeping the first)."""
        if ids_arr.shape[0] > 1 and not bool(np.all(ids_arr[1:] > ids_arr[:-1])):
            _, first = np.unique(ids_arr, return_index=True)
            if first.shape[0] != ids_arr.shape[0]:
                first.sort()
                ids_arr, words = ids_arr[first], words[first]
        base = self._view.base
        rows = base.find(ids_arr)
        in_base = rows >= 0
        in_base[in_base] = base.dead[rows[in_base]] == 0
        keep = ~in_base
        if self._d_pos:
            d_pos = self._d_pos
            keep &= np.fromiter((i not in d_pos for i in ids_arr.tolist()), dtype=bool,
                                count=ids_arr.shape[0])
        return ids_arr[keep], words[keep]

    def add(self, ids: npt.ArrayLike, hashes: HashArray) -> None:
        """Add entries; an id already present is left as it is. Searchable when this returns."""
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        hashes_arr = _as_hashes(hashes)
        if ids_arr.shape[0] != hashes_arr.shape[0]:
            raise ValueError(f"{ids_arr.shape[0]} ids but {hashes_arr.shape[0]} hashes")
        if ids_arr.shape[0] == 0:
            return
        words = pack_words(hashes_arr)
        limit = self._delta_limit(self._view.base.n)
        if ids_arr.shape[0] > 4 * limit:
            # Bulk load: building a base directly beats scanning a huge delta until a merge lands.
            with self._merge_lock, self._lock:
                new_ids, new_words = self._filter_new(ids_arr, words)
                if new_ids.shape[0]:
                    self._merge_locked(new_ids, new_words)
            return
        start_merge = False
        with self._lock:
            new_ids, new_words = self._filter_new(ids_arr, words)
            k = new_ids.shape[0]
            if k == 0:
                return
            n = self._d_n
            if n + k > self._d_ids.shape[0]:
                cap = max(2 * self._d_ids.shape[0], n + k)
                d_words = np.zeros((cap, 4), dtype=np.uint64)
                d_ids = np.zeros(cap, dtype=np.int64)
                d_dead = np.zeros(cap, dtype=np.uint8)
                d_words[:n] = self._d_words[:n]
                d_ids[:n] = self._d_ids[:n]
                d_dead[:n] = self._d_dead[:n]
                self._d_words, self._d_ids, self._d_dead = d_words, d_ids, d_dead
            # Slots past the published length are invisible to readers until the view is swapped.
            self._d_words[n : n + k] = new_words
            self._d_ids[n : n + k] = new_ids
            for j, i in enumerate(new_ids.tolist()):
                self._d_pos[i] = n + j
            self._d_n = n + k
            self._publish(self._view.base)
            if len(self._d_pos) >= limit and self._removed_during_merge is None:
                start_merge = True
        if start_merge:
            if self._background:
                self._start_background_merge()
            else:
                self.compact()

    def remove(self, ids: Iterable[int]) -> None:
        """Forget entries (tombstones; space is reclaimed by the next merge). Unknown ids are ignored."""
        ids_arr = np.fromiter((int(i) for i in ids), dtype=np.int64)
        if ids_arr.shape[0] == 0:
            return
        with self._lock:
            base = self._view.base
            removed: list[int] = []
            for i in ids_arr.tolist():
                pos = self._d_pos.pop(i, None)
                if pos is not None:
                    self._d_dead[pos] = 1
                    removed.append(i)
            rows = base.find(ids_arr)
            rows = rows[rows >= 0]
            rows = rows[base.dead[rows] == 0]
            if rows.shape[0]:
                rows = np.unique(rows)
                base.dead[rows] = 1
                self._base_live -= int(rows.shape[0])
                removed.extend(base.ids[rows].tolist())
            if self._removed_during_merge is not None:
                self._removed_during_merge.extend(removed)

    def _start_background_merge(self) -> None:
        with self._lock:
            if self._merge_thread is not None and self._merge_thread.is_alive():
                return
            t = threading.Thread(target=self.compact, name="seawall-pdq-merge", daemon=True)
            self._merge_thread = t
            t.start()

    def wait_for_merge(self, timeout: float | None = None) -> None:
        """Block until a running background merge has finished (for shutdown, tests, benchmarks)."""
        t = self._merge_thread
        if t is not None:
            t.join(timeout)

    def settle(self) -> None:
        """Wait for a running merge, then fold a delta past its limit into the base now.

        Why: before a snapshot that other processes will map, so they load a base they can use as it
        is rather than one whose delta they would have to merge into a private copy of their own.
        """
        self.wait_for_merge()
        if len(self._d_pos) >= self._delta_limit(self._view.base.n):
            self.compact()

    def compact(self) -> None:
        """Fold the delta and drop tombstones now, building a new base while searches go on."""
        with self._merge_lock:
            with self._lock:
                view = self._view
                base, d_n = view.base, self._d_n
                keep_b = base.dead == 0
                keep_d = self._d_dead[:d_n] == 0
                ids = np.concatenate([base.ids[keep_b], self._d_ids[:d_n][keep_d]])
                words = np.concatenate([base.words[keep_b], self._d_words[:d_n][keep_d]])
                self._removed_during_merge = []
            try:
                new_base = self._mih.Segment.build(ids, words, self._layout_for())
            except BaseException:
                with self._lock:
                    self._removed_during_merge = None
                raise
            del ids, words
            with self._lock:
                removed = self._removed_during_merge
                self._removed_during_merge = None
                if removed:
                    rows = new_base.find(np.array(removed, dtype=np.int64))
                    new_base.dead[rows[rows >= 0]] = 1
                self._swap_in(new_base, d_n)

    def _merge_locked(self, extra_ids: npt.NDArray[np.int64], extra_words: npt.NDArray[np.uint64]) -> None:
        """Rebuild base from base + delta + extra while holding both locks (bulk loads)."""
        view = self._view
        base, d_n = view.base, self._d_n
        if base.n == 0 and d_n == 0:
            ids, words = extra_ids, extra_words  # first bulk load: no copy
        else:
            keep_b = base.dead == 0
            keep_d = self._d_dead[:d_n] == 0
            ids = np.concatenate([base.ids[keep_b], self._d_ids[:d_n][keep_d], extra_ids])
            words = np.concatenate([base.words[keep_b], self._d_words[:d_n][keep_d], extra_words])
        new_base = self._mih.Segment.build(ids, words, self._layout_for())
        del ids, words
        self._swap_in(new_base, d_n)

    def _layout_for(self) -> Any:
        return self._mih.split_bits(self._chunks) if self._chunks else None

    def _swap_in(self, new_base: Segment, merged_n: int) -> None:
        """Publish ``new_base``; delta rows added after the merge started stay in a fresh delta."""
        n = self._d_n
        live = self._d_dead[merged_n:n] == 0
        rest_ids = self._d_ids[merged_n:n][live].copy()
        rest_words = self._d_words[merged_n:n][live].copy()
        d_pos = {i: j for j, i in enumerate(rest_ids.tolist())}
        self._set_base(new_base, d_pos, rest_words, rest_ids)

    # ------------------------------------------------------------------ search

    def search(self, query: HashArray, radius: int) -> list[tuple[int, int]]:
        """(id, distance) of every entry within ``radius`` of one 32-byte query."""
        return self.search_batch(_as_hashes(query)[:1], radius)[0]

    def search_batch(self, queries: HashArray, radius: int) -> list[list[tuple[int, int]]]:
        """One result list per query row, each sorted by (distance, id).

        Large batches are split across one thread per core; the kernel releases the GIL.
        """
        q = pack_words(_as_hashes(queries))
        nq = q.shape[0]
        if nq == 0:
            return []
        radius = int(radius)
        if radius < 0:
            return [[] for _ in range(nq)]
        radius = min(radius, MAX_DISTANCE)
        view = self._view
        plan = view.base.plan(radius)
        workers = self._mih.worker_count()
        if nq < 32 or workers == 1:
            return self._run(view, plan, q, radius, 0, nq)
        step = -(-nq // workers)
        futures = [self._mih.pool().submit(self._run, view, plan, q, radius, lo, min(nq, lo + step))
                   for lo in range(0, nq, step)]
        out: list[list[tuple[int, int]]] = []
        for f in futures:
            out.extend(f.result())
        return out

    def _run(self, view: _View, plan: Any, q: npt.NDArray[np.uint64], radius: int, lo: int, hi: int
             ) -> list[list[tuple[int, int]]]:
        base = view.base
        layout = base.layout
        chunk_off = np.asarray(layout.offsets, dtype=np.int64)
        chunk_bits = np.asarray(layout.widths, dtype=np.int64)
        cap = max(256, 4 * (hi - lo))
        out: list[list[tuple[int, int]]] = []
        while lo < hi:
            out_ids = np.empty(cap, dtype=np.int64)
            out_dist = np.empty(cap, dtype=np.int32)
            counts = np.empty(hi - lo, dtype=np.int64)
            done = self._mih.search_kernel(
                q, lo, hi, radius, base.words, base.ids, base.dead, chunk_off, chunk_bits,
                plan.budget, base.table_base, base.offsets, base.postings, base.cmask,
                plan.masks, plan.mask_start, plan.scan_limit,
                view.d_words, view.d_ids, view.d_dead, view.d_n,
                out_ids, out_dist, counts,
            )
            if done == lo:
                cap *= 4
                continue
            # one list of the counts, summed in Python: numpy's sum costs more than the search of a lookup's
            # single query spends outside the kernel
            counts_l = counts[: done - lo].tolist()
            total = sum(counts_l)
            ids_l = out_ids[:total].tolist()
            dist_l = out_dist[:total].tolist()
            p = 0
            for c in counts_l:
                if c == 0:
                    out.append([])
                    continue
                pairs = list(zip(ids_l[p : p + c], dist_l[p : p + c], strict=True))
                if c > 1:
                    pairs.sort(key=lambda t: (t[1], t[0]))
                out.append(pairs)
                p += c
            lo = done
        return out

    # ------------------------------------------------------------------ accounting & persistence

    def held_ids(self) -> npt.NDArray[np.int64]:
        """The ids of every live row, base then delta, from one consistent view: callers that key rows
        by id (the retro forms) check and prune their own bookkeeping against it."""
        view = self._view
        base_live = view.base.ids[view.base.dead == 0]
        delta = view.d_ids[: view.d_n][view.d_dead[: view.d_n] == 0]
        return np.concatenate([base_live, delta]).astype(np.int64, copy=False)

    def memory_bytes(self) -> int:
        """Bytes held by index arrays and id bookkeeping (excludes the interpreter and numba)."""
        view = self._view
        delta = self._d_words.nbytes + self._d_ids.nbytes + self._d_dead.nbytes
        return int(view.base.nbytes() + delta + 100 * len(self._d_pos))

    def save(self, path: Path | str) -> None:
        """Write a snapshot (atomic rename); concurrent searches and updates are not blocked for long."""
        with self._lock:
            view = self._view
            base = view.base
            dead = base.dead.copy()
            live = self._d_dead[: self._d_n] == 0
            d_ids = self._d_ids[: self._d_n][live].copy()
            d_words = self._d_words[: self._d_n][live].copy()
        layout = base.layout
        meta = {
            "chunk_offsets": list(layout.offsets),
            "chunk_widths": list(layout.widths),
            "base_rows": base.n,
            "delta_rows": int(d_ids.shape[0]),
        }
        write_snapshot(path, SNAPSHOT_KIND, meta, {
            "ids": base.ids,
            "words": base.words,
            "dead": dead,
            "table_base": base.table_base,
            "offsets": base.offsets,
            "postings": base.postings,
            "delta_ids": d_ids,
            "delta_words": d_words,
        })

    @classmethod
    def load(cls, path: Path | str, *, mmap: bool = False, verify: bool = True,
             background_merge: bool = True) -> PdqIndex:
        """Load a snapshot written by :meth:`save`; :class:`SnapshotError` if it cannot be trusted.
        ``background_merge`` is the constructor's option of that name."""
        meta, arrays = read_snapshot(path, SNAPSHOT_KIND, mmap=mmap, verify=verify)
        idx = cls(background_merge=background_merge)
        mih = idx._mih
        try:
            layout = mih.Layout(tuple(int(x) for x in meta["chunk_offsets"]),
                                tuple(int(x) for x in meta["chunk_widths"]))
            base = mih.Segment.from_arrays(
                layout,
                words=arrays["words"],
                ids=arrays["ids"],
                dead=arrays["dead"],
                table_base=arrays["table_base"],
                offsets=arrays["offsets"],
                postings=arrays["postings"],
            )
            d_ids = np.asarray(arrays["delta_ids"], dtype=np.int64)
            d_words = np.asarray(arrays["delta_words"], dtype=np.uint64).reshape(-1, 4)
        except (KeyError, TypeError, ValueError) as e:
            raise SnapshotError(f"{path}: inconsistent snapshot: {e}") from e
        if d_ids.shape[0] != d_words.shape[0] or np.unique(d_ids).shape[0] != d_ids.shape[0]:
            raise SnapshotError(f"{path}: inconsistent snapshot delta")
        rows = base.find(d_ids)
        if bool(np.any(base.dead[rows[rows >= 0]] == 0)):
            raise SnapshotError(f"{path}: snapshot delta repeats ids of the base")
        idx._set_base(base, {i: j for j, i in enumerate(d_ids.tolist())}, d_words, d_ids)
        if len(idx._d_pos) >= idx._delta_limit(base.n):
            # A snapshot saved while a merge was running can carry a delta far past the limit (1.2M rows
            # beside a 10M base were seen: 10-16 ms of scanning per query). Only an add would start the
            # merge, and a server that only serves lookups never adds; fold it now, before the index
            # serves, and say so, so that the owner saves the merged form for the next start.
            idx.compact()
            idx.merged_on_load = True
        return idx


def hex_rows_to_array(values: Sequence[str]) -> np.ndarray:
    """32-byte rows of 64-hex-character values; one ``fromhex`` over the joined text when every value has
    that length (a page of a feed: thousands at once), one per value otherwise."""
    if values and set(map(len, values)) == {64}:
        return np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(-1, 32)
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

    def settle(self) -> None:
        """See :meth:`PdqIndex.settle`."""
        self.index.settle()

    @property
    def merged_on_load(self) -> bool:
        return self.index.merged_on_load

    def save(self, path: Path) -> None:
        """Checksummed snapshot (see :mod:`seawall.index.snapshot`), written then renamed into place."""
        self.index.save(path)

    @classmethod
    def load(cls, path: Path) -> Hamming256Index:
        """Map a snapshot read-only; :class:`seawall.index.SnapshotError` when it cannot be trusted.

        Mapped, not copied: every server process of a host reads the same pages of the page cache
        instead of holding its own copy (1.7 GB each at 10M entries), and the kernel maps a large
        file with 2 MiB pages, so the random reads of a search cost what they cost in a private
        copy. Only the tombstones (one byte per row) and the delta of newer entries are private.
        The file is never changed in place (saves write a new file and rename it), so the mapping
        stays valid while another process replaces or deletes the name.
        """
        return cls(PdqIndex.load(path, mmap=True))


__all__ = ["BruteForcePdqIndex", "Hamming256Index", "PdqIndex", "SnapshotError", "hamming", "hex_rows_to_array",
           "pack_words"]
