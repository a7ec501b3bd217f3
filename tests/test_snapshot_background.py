"""Index snapshots are saved on their own thread: lookups and refreshes go on while a save is in progress.

The save is held open at a gate inside a real index's ``save`` (a plugin signal type whose index is the
shipped 256-bit Hamming index with a gate in front of its ``save``), so "during a save" is a state the
test controls rather than a race it hopes to hit.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import ClassVar

from seawall.banks.service import EntryInput
from seawall.builtin import register
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.index.base import SignalIndex
from seawall.index.manager import IndexSet
from seawall.plugins import Registry
from seawall.signals.pdq.index import Hamming256Index
from seawall.signals.pdq.signal import PdqSignal


class Gate:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.saves = 0


class GatedIndex(Hamming256Index):
    gate: ClassVar[Gate] = Gate()

    def save(self, path: Path) -> None:
        gate = self.gate
        with gate.lock:
            gate.active += 1
            gate.max_active = max(gate.max_active, gate.active)
        gate.started.set()
        try:
            assert gate.release.wait(60), "the test never opened the gate"
            super().save(path)
        finally:
            with gate.lock:
                gate.active -= 1
                gate.saves += 1


class GatedPdq(PdqSignal):
    name = "gated_pdq"
    content_types = ()  # values arrive through banks and lookups only

    def create_index(self) -> SignalIndex:
        return GatedIndex()


def _registry() -> Registry:
    reg = Registry()
    register(reg)
    reg.add_signal_type(GatedPdq())
    return reg


def _wait(cond: object, what: str, timeout: float = 20.0) -> None:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not cond():  # type: ignore[operator]
            assert not done.wait(0.02), f"timed out waiting until {what}"
    finally:
        deadline.cancel()


def test_lookups_and_refreshes_go_on_while_a_snapshot_is_saved(settings: Settings) -> None:
    gate = GatedIndex.gate = Gate()
    reg = _registry()
    engine = build_engine(settings, reg=reg)
    try:
        engine.banks.create("b")
        values = [secrets.token_hex(32) for _ in range(500)]
        report = engine.import_entries("b", "text", (f"gated_pdq {v}" for v in values), added_by="t")
        assert report.added == 500
        engine.snapshot_after_changes = 100
        engine.start_background_refresh(interval=0.05)
        assert gate.started.wait(20), "the refresh loop never asked for a snapshot"
        assert engine.indexes.snapshot_saving

        # the save is stuck in the middle: lookups answer from the index all the same
        for v in values[:50]:
            assert [m.distance for m in engine.lookup("gated_pdq", v)] == [0]
        # and the refresh loop keeps following the store (an entry written without indexing it here)
        late = secrets.token_hex(32)
        engine.banks.add_entry("b", EntryInput("gated_pdq", late, []), added_by="other node")
        _wait(lambda: len(engine.lookup("gated_pdq", late)) == 1, "the late entry is matchable during the save")

        # asking again while a save runs queues one more save; it never runs beside the first
        assert engine.indexes.request_snapshots(min_changes=1)
        assert gate.active == 1
        gate.release.set()
        assert engine.indexes.wait_for_snapshots(timeout=30)
        assert gate.max_active == 1 and gate.saves == 2
    finally:
        gate.release.set()
        engine.close()

    (snap,) = sorted((settings.data_dir / "index").glob("*/gated_pdq-*.snap"))
    fresh = IndexSet(_registry(), snapshot_dir=snap.parent)
    restarted = build_engine(settings, reg=_registry())
    try:
        assert fresh.load_snapshots(restarted.db)["gated_pdq"] == 501
        assert restarted.indexes.sizes()["gated_pdq"] == 501
        assert len(restarted.lookup("gated_pdq", late)) == 1
        assert [m.distance for m in restarted.lookup("gated_pdq", values[123])] == [0]
    finally:
        restarted.close()
