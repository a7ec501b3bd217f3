"""Index snapshots shared between processes: one process writes, another maps the same file and answers exactly.

The server processes of one host map a snapshot read-only instead of each holding a private copy, so these
tests run the reader in a separate Python process (a real second process, as ``seawall serve --workers 2``
has) and compare its answers with the writer's.
"""

from __future__ import annotations

import json
import mmap
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import seawall.engine as engine_module
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.signals.pdq.index import Hamming256Index, PdqIndex

#: Run in the second process: build an engine on the same store and data directory, look values up, and say
#: whether the snapshot file is mapped into this process (rather than read into private memory).
_READER = """
import json, sys
from seawall.composition import build_engine
from seawall.config import Settings

values = json.loads(sys.stdin.read())
engine = build_engine(Settings())
try:
    maps = open("/proc/self/maps").read()
    out = {
        "mapped": any(line.rstrip().endswith(".snap") for line in maps.splitlines()),
        "size": engine.indexes.sizes().get("pdq", 0),
        "hits": {v: [[m.entry_id, m.distance] for m in engine.lookup("pdq", v)] for v in values},
    }
finally:
    engine.close()
print(json.dumps(out))
"""


def _read_in_other_process(settings: Settings, values: list[str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env["SEAWALL_DATA_DIR"] = str(settings.data_dir)
    env["SEAWALL_DATABASE_URL"] = settings.effective_database_url
    proc = subprocess.run([sys.executable, "-c", _READER], input=json.dumps(values), env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _is_mapped(arr: np.ndarray) -> bool:
    """Whether ``arr`` is a view of a memory-mapped file rather than memory of its own."""
    base: object = arr
    while base is not None:
        if isinstance(base, np.memmap | mmap.mmap):
            return True
        base = getattr(base, "base", None)
    return False


def _snapshots(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "index").glob("*/pdq-*.snap"))


def _near(value: str, bits: int) -> str:
    """``value`` with its lowest ``bits`` bits flipped: within a PDQ threshold of it, never equal to it."""
    return f"{int(value, 16) ^ ((1 << bits) - 1):064x}"


#: Past the delta limit of a fresh index (4,096), so the snapshot holds a base to map, not only a delta.
N = 20_000


def _import(settings: Settings, values: list[str]) -> list[int]:
    engine = build_engine(settings)
    try:
        if "b" not in {b.name for b in engine.banks.list_banks()}:
            engine.banks.create("b")
        report = engine.import_entries("b", "text", (f"pdq {v}" for v in values), added_by="t")
        assert report.added == len(values)
        return [m.entry_id for v in values for m in engine.lookup("pdq", v) if m.distance == 0]
    finally:
        engine.close()  # saves the snapshot


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
def test_a_snapshot_written_by_one_process_is_mapped_and_searched_exactly_by_another(settings: Settings) -> None:
    values = [secrets.token_hex(32) for _ in range(N)]
    ids = _import(settings, values)
    (snap,) = _snapshots(settings)
    taken = snap.read_bytes()
    # after the snapshot: one entry added (only the store knows it), one deleted from the store
    later = secrets.token_hex(32)
    writer = build_engine(settings)
    try:
        writer.import_entries("b", "text", [f"pdq {later}"], added_by="t")
        writer.banks.delete_entry("b", ids[7])
        queries = [values[0], _near(values[1], 9), later, _near(later, 5), values[7], secrets.token_hex(32)]
        expected = {v: [[m.entry_id, m.distance] for m in writer.lookup("pdq", v)] for v in queries}
    finally:
        writer.close()
    for newer in _snapshots(settings):  # put back the snapshot taken before the add and the delete
        newer.unlink()
    snap.write_bytes(taken)
    assert expected[values[0]] == [[ids[0], 0]] and expected[_near(values[1], 9)] == [[ids[1], 9]]
    assert len(expected[later]) == 1 and expected[_near(later, 5)][0][1] == 5
    assert expected[values[7]] == []  # deleted: not a match, although the snapshot still holds it

    got = _read_in_other_process(settings, queries)
    assert got["mapped"], "the reader copied the snapshot instead of mapping it"
    assert got["size"] >= len(values)  # the snapshot's entries (the deleted one lingers, unresolved) plus the new one
    assert got["hits"] == expected


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
def test_an_index_rebuilt_at_start_up_is_saved_once_and_mapped(settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    values = [secrets.token_hex(32) for _ in range(N)]
    _import(settings, values)
    for snap in _snapshots(settings):
        snap.unlink()
    # a rebuild of at least this many entries is worth saving and sharing at start-up
    monkeypatch.setattr(engine_module, "SNAPSHOT_AFTER_CHANGES", 1_000)
    first = build_engine(settings)
    try:
        (snap,) = _snapshots(settings)
        ix = first.indexes.index_for("pdq")
        assert isinstance(ix, Hamming256Index)
        assert _is_mapped(ix.index._view.base.words)  # serving from the file it wrote
        assert str(snap) in Path("/proc/self/maps").read_text()
        assert [m.distance for m in first.lookup("pdq", _near(values[5], 3))] == [3]
        got = _read_in_other_process(settings, [values[5], _near(values[6], 11)])
        assert got["mapped"] and got["size"] == len(values)
        assert [d for _, d in got["hits"][values[5]]] == [0]
        assert [d for _, d in got["hits"][_near(values[6], 11)]] == [11]
        assert _snapshots(settings) == [snap]  # the reader loaded it: nothing rebuilt or written again
    finally:
        first.close()


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_shared_snapshot_is_rejected_and_rebuilt_by_the_reader(settings: Settings, damage: str) -> None:
    values = [secrets.token_hex(32) for _ in range(N)]
    _import(settings, values)
    (snap,) = _snapshots(settings)
    raw = bytearray(snap.read_bytes())
    if damage == "truncate":
        del raw[len(raw) - 4096 :]
    else:
        raw[len(raw) // 3] ^= 0x10
    snap.write_bytes(bytes(raw))
    got = _read_in_other_process(settings, [values[3], _near(values[4], 2)])
    assert not got["mapped"]  # rejected: rebuilt from the store into memory
    assert got["size"] == len(values)
    assert [d for _, d in got["hits"][values[3]]] == [0]
    assert [d for _, d in got["hits"][_near(values[4], 2)]] == [2]
    assert not snap.exists() or snap.read_bytes() != bytes(raw)  # the damaged file was removed


#: 1,500 hashes in the fast loop, with a delta limit below that so they are folded into the saved (mapped)
#: base as the default limit folds 6,000; those 6,000 under the default limit are the full check in `make test`.
@pytest.mark.parametrize(("rows", "delta_limit"), [(1_500, 1_000), pytest.param(6_000, None, marks=pytest.mark.slow)])
def test_mapped_and_copied_loads_search_identically_and_tombstones_stay_private(tmp_path: Path, rows: int,
                                                                                delta_limit: int | None) -> None:
    rng = np.random.default_rng(21)
    hashes = rng.integers(0, 256, size=(rows, 32), dtype=np.uint8)
    idx = PdqIndex(background_merge=False, chunks=12, delta_limit=delta_limit)
    idx.add(np.arange(rows), hashes)
    path = tmp_path / "pdq.snap"
    idx.save(path)
    before = path.read_bytes()
    mapped, copied = PdqIndex.load(path, mmap=True), PdqIndex.load(path)
    assert _is_mapped(mapped._view.base.words) and not _is_mapped(copied._view.base.words)
    queries = hashes[:40] ^ (rng.random((40, 32)) < 0.05).astype(np.uint8) * 255
    for r in (0, 31, 60):
        assert mapped.search_batch(queries, r) == copied.search_batch(queries, r) == idx.search_batch(queries, r)
    mapped.remove([0, 1, 2])  # tombstones go to the process's own copy, never into the shared file
    assert all(i not in {0, 1, 2} for i, _ in mapped.search(hashes[0], 31))
    assert (0, 0) in PdqIndex.load(path, mmap=True).search(hashes[0], 0)
    assert path.read_bytes() == before
