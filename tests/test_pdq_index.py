"""PdqIndex must return exactly what a brute-force scan returns, through every update and reload."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from seawall.index import SnapshotError
from seawall.signals.pdq import mih
from seawall.signals.pdq.index import BruteForcePdqIndex, PdqIndex, hamming, pack_words

RADII = [0, 16, 31, 47]


def random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def flip_bits(rng: np.random.Generator, h: np.ndarray, k: int) -> np.ndarray:
    """Copy of ``h`` at Hamming distance exactly ``k``."""
    out = h.copy()
    for b in rng.choice(256, size=k, replace=False):
        out[b // 8] ^= np.uint8(1 << (b % 8))
    return out


def clustered_hashes(rng: np.random.Generator, n: int, centres: int) -> np.ndarray:
    """Clusters of 0-40-bit perturbations, plus exact duplicates and all-zero / all-one hashes."""
    c = random_hashes(rng, centres)
    out = np.empty((n, 32), dtype=np.uint8)
    for i in range(n):
        out[i] = flip_bits(rng, c[rng.integers(centres)], int(rng.integers(0, 41)))
    dup = out[0].copy()
    out[1 : 1 + n // 20] = dup  # one heavily overfull bucket in every chunk
    out[-1] = 0
    out[-2] = 255
    return out


def queries_for(rng: np.random.Generator, stored: np.ndarray, radius: int, nq: int) -> np.ndarray:
    """Half at distances r-1, r, r+1 (and 0) from stored hashes, half uniform random."""
    qs = []
    for j in range(nq // 2):
        k = [0, radius - 1, radius, radius + 1][j % 4]
        qs.append(flip_bits(rng, stored[rng.integers(len(stored))], max(0, k)))
    qs.extend(random_hashes(rng, nq - nq // 2))
    qs.append(np.zeros(32, dtype=np.uint8))
    qs.append(np.full(32, 255, dtype=np.uint8))
    return np.stack(qs)


def as_sets(results: list[list[tuple[int, int]]]) -> list[set[tuple[int, int]]]:
    return [set(r) for r in results]


def assert_same(idx: PdqIndex, ref: BruteForcePdqIndex, queries: np.ndarray, radius: int) -> None:
    got = idx.search_batch(queries, radius)
    want = ref.search_batch(queries, radius)
    assert len(got) == len(want) == len(queries)
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(set(g)), "an id was reported twice"
        assert set(g) == set(w)
        assert g == sorted(g, key=lambda t: (t[1], t[0]))


@pytest.fixture
def force_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the planner always probe tables (small test sets would otherwise just be scanned)."""
    monkeypatch.setattr(mih, "SCAN_COST", 1e9)
    monkeypatch.setattr(mih, "MIN_TABLE_ROWS", 1)


def build(ids: np.ndarray, hashes: np.ndarray, **kw: object) -> tuple[PdqIndex, BruteForcePdqIndex]:
    idx = PdqIndex(background_merge=False, **kw)  # type: ignore[arg-type]
    ref = BruteForcePdqIndex()
    idx.add(ids, hashes)
    ref.add(ids, hashes)
    return idx, ref


def test_hamming_and_pack_words() -> None:
    rng = np.random.default_rng(0)
    a, b = random_hashes(rng, 5), random_hashes(rng, 5)
    bits = np.unpackbits(a ^ b, axis=1).sum(axis=1)
    assert hamming(a, b).tolist() == bits.tolist()
    assert pack_words(a).shape == (5, 4)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("chunks", [None, 13])
def test_exact_on_random_data(force_probe: None, seed: int, chunks: int | None) -> None:
    # 13 chunks of 19-20 bits: chunks straddle 64-bit word boundaries.
    rng = np.random.default_rng(seed)
    n = 3000
    hashes = random_hashes(rng, n)
    ids = rng.permutation(10 * n)[:n].astype(np.int64) - 5 * n  # unsorted, some negative
    idx, ref = build(ids, hashes, chunks=chunks)
    assert len(idx) == n
    for r in RADII:
        assert_same(idx, ref, queries_for(rng, hashes, r, 60), r)


@pytest.mark.parametrize("seed", [3, 4])
def test_exact_on_clustered_data(force_probe: None, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4000
    hashes = clustered_hashes(rng, n, centres=40)
    idx, ref = build(np.arange(n), hashes, chunks=11)
    for r in RADII:
        assert_same(idx, ref, queries_for(rng, hashes, r, 60), r)


def test_scan_paths_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default planning: small sets and huge radii are scanned; a tiny scan limit forces fallbacks."""
    rng = np.random.default_rng(5)
    hashes = clustered_hashes(rng, 2000, centres=10)
    idx, ref = build(np.arange(2000), hashes)
    for r in [*RADII, 90, 256, 1000]:
        assert_same(idx, ref, queries_for(rng, hashes, min(r, 200), 20), r)
    assert idx.search_batch(hashes[:3], -1) == [[], [], []]

    monkeypatch.setattr(mih, "SCAN_COST", 1e9)
    monkeypatch.setattr(mih, "MIN_TABLE_ROWS", 1)
    idx2, _ = build(np.arange(2000), hashes, chunks=16)
    plan = idx2._view.base.plan(31)
    plan.scan_limit = 10  # queries near the duplicate cluster fall back to a scan mid-batch
    assert_same(idx2, ref, queries_for(rng, hashes, 31, 40), 31)


def test_batch_equals_single(force_probe: None) -> None:
    rng = np.random.default_rng(6)
    hashes = random_hashes(rng, 2000)
    idx, _ = build(np.arange(2000), hashes)
    q = queries_for(rng, hashes, 31, 200)  # large enough to be split across worker threads
    batch = idx.search_batch(q, 31)
    assert batch == [idx.search(row, 31) for row in q]


def test_many_results_grow_the_output_buffer(force_probe: None) -> None:
    h = np.zeros((5000, 32), dtype=np.uint8)
    idx, ref = build(np.arange(5000), h, chunks=16)
    q = np.zeros((3, 32), dtype=np.uint8)
    assert_same(idx, ref, q, 0)
    assert len(idx.search(q[0], 0)) == 5000


def test_empty_index() -> None:
    idx = PdqIndex()
    assert len(idx) == 0
    assert idx.search(np.zeros(32, dtype=np.uint8), 31) == []
    assert idx.search_batch(np.zeros((0, 32), dtype=np.uint8), 31) == []
    assert idx.search_batch(np.zeros((2, 32), dtype=np.uint8), 31) == [[], []]
    idx.remove([1, 2])
    idx.add(np.zeros(0, dtype=np.int64), np.zeros((0, 32), dtype=np.uint8))
    assert len(idx) == 0
    assert idx.memory_bytes() >= 0


def test_duplicate_add_is_a_no_op(force_probe: None) -> None:
    rng = np.random.default_rng(7)
    a, b = random_hashes(rng, 2)
    idx = PdqIndex(background_merge=False)
    idx.add([5], a[None])
    idx.add([5, 5], np.stack([b, b]))
    assert len(idx) == 1
    assert idx.search(a, 0) == [(5, 0)]
    assert idx.search(b, 0) == []
    # Also when the id sits in the merged base, and for repeats inside one batch.
    idx.compact()
    idx.add([5, 6, 6], np.stack([b, b, a]))  # within one batch the first occurrence wins
    assert len(idx) == 2
    assert idx.search(a, 0) == [(5, 0)]
    assert idx.search(b, 0) == [(6, 0)]


@pytest.mark.parametrize("background", [False, True])
def test_add_remove_readd_through_merges(force_probe: None, background: bool) -> None:
    rng = np.random.default_rng(8)
    n = 3000
    hashes = clustered_hashes(rng, n, centres=30)
    idx = PdqIndex(delta_limit=200, background_merge=background, chunks=12)
    ref = BruteForcePdqIndex()
    live: dict[int, np.ndarray] = {}
    next_id = 0
    for step in range(12):
        k = int(rng.integers(50, 400))
        new_ids = np.arange(next_id, next_id + k)
        new_h = hashes[rng.integers(0, n, k)]
        next_id += k
        idx.add(new_ids, new_h)
        ref.add(new_ids, new_h)
        live.update(zip(new_ids.tolist(), new_h, strict=True))
        gone = rng.choice(list(live), size=min(len(live), int(rng.integers(0, 150))), replace=False).tolist()
        idx.remove(gone)
        ref.remove(gone)
        for g in gone[: len(gone) // 2]:  # re-add half of them under the same id, different hash
            h = flip_bits(rng, live[g], 3)
            idx.add([g], h[None])
            ref.add([g], h[None])
            live[g] = h
        for g in gone[len(gone) // 2 :]:
            del live[g]
        assert len(idx) == len(ref) == len(live)
        r = RADII[step % len(RADII)]
        assert_same(idx, ref, queries_for(rng, hashes, r, 30), r)
    idx.wait_for_merge()
    idx.compact()
    assert idx._view.d_n == 0
    assert len(idx) == len(ref)
    assert_same(idx, ref, queries_for(rng, hashes, 31, 40), 31)


def test_concurrent_searches_during_updates(force_probe: None) -> None:
    rng = np.random.default_rng(9)
    hashes = random_hashes(rng, 4000)
    idx = PdqIndex(delta_limit=100, chunks=16)
    idx.add(np.arange(2000), hashes[:2000])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                # Entries 0..1999 are never removed: each must always find itself.
                i = int(rng.integers(0, 2000))
                res = idx.search(hashes[i], 0)
                assert (i, 0) in res
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for lo in range(2000, 4000, 50):
        idx.add(np.arange(lo, lo + 50), hashes[lo : lo + 50])
        assert idx.search(hashes[lo + 49], 0) == [(lo + 49, 0)]  # visible as soon as add returns
        idx.remove([lo])
    stop.set()
    for t in threads:
        t.join()
    idx.wait_for_merge()
    assert not errors
    assert len(idx) == 4000 - 40


def test_snapshot_round_trip(force_probe: None, tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    hashes = clustered_hashes(rng, 3000, centres=20)
    idx = PdqIndex(delta_limit=10_000, background_merge=False, chunks=14)
    ref = BruteForcePdqIndex()
    for i in (idx, ref):
        i.add(np.arange(2500), hashes[:2500])
    idx.compact()
    for i in (idx, ref):
        i.add(np.arange(2500, 3000), hashes[2500:])  # stays in the delta
        i.remove(list(range(0, 3000, 7)))  # tombstones in base and delta
    path = tmp_path / "pdq.snap"
    idx.save(path)
    assert not list(tmp_path.glob(".*tmp"))
    for mmap in (False, True):
        loaded = PdqIndex.load(path, mmap=mmap)
        assert len(loaded) == len(ref)
        for r in RADII:
            assert_same(loaded, ref, queries_for(rng, hashes, r, 30), r)
        loaded.add([99_999], hashes[:1])
        loaded.remove([1])
        assert (99_999, 0) in loaded.search(hashes[0], 0)
        loaded.compact()
        assert (99_999, 0) in loaded.search(hashes[0], 0)


def test_a_snapshot_with_a_delta_past_the_limit_is_merged_after_loading(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    hashes = clustered_hashes(rng, 8000, centres=20)
    idx = PdqIndex(delta_limit=100_000, background_merge=False, chunks=14)
    ref = BruteForcePdqIndex()
    for i in (idx, ref):
        i.add(np.arange(2000), hashes[:2000])
    idx.compact()
    for i in (idx, ref):
        i.add(np.arange(2000, 8000), hashes[2000:])  # 6,000 rows in the delta: past the default limit
        i.remove(list(range(0, 8000, 11)))
    path = tmp_path / "pdq.snap"
    idx.save(path)
    loaded = PdqIndex.load(path)
    assert loaded.merged_on_load and len(loaded._d_pos) == 0  # folded into the base before serving
    assert len(loaded) == len(ref)
    for r in RADII:
        assert_same(loaded, ref, queries_for(rng, hashes, r, 30), r)


def test_empty_snapshot_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.snap"
    PdqIndex().save(path)
    loaded = PdqIndex.load(path)
    assert len(loaded) == 0
    assert loaded.search(np.zeros(32, dtype=np.uint8), 31) == []


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    idx = PdqIndex()
    idx.add(np.arange(5000), random_hashes(rng, 5000))
    path = tmp_path / "pdq.snap"
    idx.save(path)
    return path


def test_corrupt_snapshot_flipped_byte(snapshot_file: Path) -> None:
    data = bytearray(snapshot_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    snapshot_file.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=r"checksum|outside|size"):
        PdqIndex.load(snapshot_file)


def test_corrupt_snapshot_header_byte(snapshot_file: Path) -> None:
    data = bytearray(snapshot_file.read_bytes())
    data[40] ^= 0x20
    snapshot_file.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="header"):
        PdqIndex.load(snapshot_file)


@pytest.mark.parametrize("keep", [0, 10, 100, -1])
def test_truncated_snapshot(snapshot_file: Path, keep: int) -> None:
    data = snapshot_file.read_bytes()
    snapshot_file.write_bytes(data[:keep] if keep >= 0 else data[: len(data) - 4096])
    with pytest.raises(SnapshotError):
        PdqIndex.load(snapshot_file)


def test_wrong_magic_and_version(snapshot_file: Path) -> None:
    data = bytearray(snapshot_file.read_bytes())
    bad = bytearray(data)
    bad[:8] = b"NOTASNAP"
    snapshot_file.write_bytes(bytes(bad))
    with pytest.raises(SnapshotError, match="magic"):
        PdqIndex.load(snapshot_file)
    bad = bytearray(data)
    bad[8] = 99
    snapshot_file.write_bytes(bytes(bad))
    with pytest.raises(SnapshotError, match="format"):
        PdqIndex.load(snapshot_file)


def test_missing_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError):
        PdqIndex.load(tmp_path / "nope.snap")


def test_snapshot_with_bad_tables_is_refused(tmp_path: Path) -> None:
    """Even with valid checksums, tables that would send the kernel out of bounds are refused."""
    from seawall.index.snapshot import read_snapshot, write_snapshot

    rng = np.random.default_rng(12)
    idx = PdqIndex(chunks=16)
    idx.add(np.arange(5000), random_hashes(rng, 5000))
    idx.wait_for_merge()
    idx.compact()
    path = tmp_path / "pdq.snap"
    idx.save(path)
    meta, arrays = read_snapshot(path, "seawall.pdq-index")
    arrays["postings"] = arrays["postings"].copy()
    arrays["postings"][3] = 10**9
    write_snapshot(path, "seawall.pdq-index", meta, arrays)
    with pytest.raises(SnapshotError, match="postings"):
        PdqIndex.load(path)
    with pytest.raises(SnapshotError, match="holds"):
        read_snapshot(path, "something-else")
