"""Index snapshots: a restart loads them instead of rebuilding, and never trusts a bad or foreign one."""

from __future__ import annotations

import secrets
from pathlib import Path

from seawall.composition import build_engine
from seawall.config import Settings


def _seed(settings: Settings, n: int) -> list[str]:
    engine = build_engine(settings)
    try:
        engine.banks.create("b")
        values = [secrets.token_hex(32) for _ in range(n)]
        report = engine.import_entries("b", "text", (f"pdq {v}" for v in values), added_by="t")
        assert report.added == n
    finally:
        engine.close()
    return values


def _snapshots(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "index").glob("*/pdq-*.snap"))


def test_restart_loads_snapshot_and_reads_only_newer_entries(settings: Settings) -> None:
    values = _seed(settings, 2_000)
    snaps = _snapshots(settings)
    assert len(snaps) == 1 and snaps[0].stat().st_size > 0
    engine = build_engine(settings)
    try:
        assert engine.indexes.sizes()["pdq"] == 2_000
        assert engine.indexes.cursor("pdq") == int(snaps[0].stem.split("-")[1])
        assert [m.distance for m in engine.lookup("pdq", values[1234])] == [0]
        extra = secrets.token_hex(32)
        engine.import_entries("b", "text", [f"pdq {extra}"], added_by="t")
        assert len(engine.lookup("pdq", extra)) == 1
    finally:
        engine.close()
    newest = _snapshots(settings)
    assert len(newest) == 1 and newest[0] != snaps[0]  # replaced, not accumulated


def test_corrupt_snapshot_is_rejected_and_rebuilt(settings: Settings) -> None:
    values = _seed(settings, 500)
    (snap,) = _snapshots(settings)
    raw = bytearray(snap.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    snap.write_bytes(bytes(raw))
    engine = build_engine(settings)
    try:
        assert not snap.exists()  # rejected and removed
        assert engine.indexes.sizes()["pdq"] == 500  # rebuilt from the store
        assert len(engine.lookup("pdq", values[42])) == 1
    finally:
        engine.close()


def test_snapshot_of_another_store_is_never_used(settings: Settings, tmp_path: Path) -> None:
    _seed(settings, 300)
    (snap,) = _snapshots(settings)
    other = Settings(data_dir=settings.data_dir, database_url=f"sqlite:///{tmp_path / 'other.db'}")
    engine = build_engine(other)
    try:
        assert engine.indexes.sizes().get("pdq", 0) == 0
    finally:
        engine.close()
    assert snap.exists()  # still there for its own store


def test_snapshot_past_the_store_is_rejected(settings: Settings) -> None:
    _seed(settings, 100)
    (snap,) = _snapshots(settings)
    cursor = int(snap.stem.split("-")[1])
    future = snap.with_name(f"pdq-{cursor + 1_000_000}.snap")
    snap.rename(future)
    engine = build_engine(settings)
    try:
        assert not future.exists()
        assert engine.indexes.sizes()["pdq"] == 100
    finally:
        engine.close()
