"""Retro-matching with the forms of past items held between passes: exactly what a full comparison finds.

Each pass is checked against a brute-force comparison of every stored form of every item retro may act
on (complete, inside the window, trustworthy quality) with every new entry, read straight from the store.
Between passes the store changes the ways it does in service: items arrive, an item is deleted, one
falls out of the window, an item whose stage-2 task was pending becomes final with more forms, and the
held forms must follow each change (no match for an item that is gone, every match for one that came).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, insert, select, update

from seawall.banks.service import EntryInput
from seawall.engine import Engine
from seawall.index.snapshot import SnapshotError
from seawall.signals.pdq.index import hamming, hex_rows_to_array
from seawall.store.tables import BankEntryRow, ItemRow, MatchRow, utcnow
from seawall.uploads.retro_forms import ItemFormIndex

REGION_NAMES = ["inner rectangle", "turned +3°", "top edge 8% added"]


def _near(value: str, bits: int, rng: np.random.Generator) -> str:
    b = np.unpackbits(np.frombuffer(bytes.fromhex(value), dtype=np.uint8))
    b[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(b).tobytes().hex()


def _signals(rng: np.random.Generator, quality: int = 90, region: bool = True) -> list[dict[str, Any]]:
    dihedral = [rng.bytes(32).hex() for _ in range(8)]
    out: list[dict[str, Any]] = [{"type": "md5", "value": rng.bytes(16).hex()},
                                 {"type": "pdq", "value": dihedral[0], "quality": quality, "variants": dihedral[1:]}]
    if region:
        guesses = [rng.bytes(32).hex() for _ in REGION_NAMES]
        out.append({"type": "pdq", "value": guesses[0], "quality": quality, "variants": guesses[1:],
                    "names": REGION_NAMES})
    return out


def _item(signals: list[dict[str, Any]], *, at: datetime | None = None, pending: str | None = None
          ) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "content_id": uuid.uuid4().hex, "content_type": "image",
            "received_at": at or utcnow() - timedelta(hours=1), "signals": signals, "verdict": "allow",
            "reasons": ["no bank matched"], "status": "complete", "stage2_pending": pending}


def _store(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.db.session() as s:
        s.execute(insert(ItemRow), rows)


def _stored_matches(engine: Engine) -> set[tuple[str, int, int, str | None]]:
    with engine.db.session() as s:
        return {(str(r[0]), int(r[1]), int(r[2]), r[3]) for r in
                s.execute(select(MatchRow.item_id, MatchRow.entry_id, MatchRow.distance, MatchRow.variant))}


def _brute_force(engine: Engine, window: timedelta) -> set[tuple[str, int, int, str | None]]:
    """Every (item, entry, distance, form name) within the PDQ radius, by comparing every pair."""
    radius = engine.matcher.radius("pdq")
    dihedral_names = engine.registry.signal("pdq").query_variant_names(7)
    with engine.db.session() as s:
        entries = [(int(r[0]), str(r[1])) for r in
                   s.execute(select(BankEntryRow.id, BankEntryRow.value).where(BankEntryRow.signal_type == "pdq"))]
        items = list(s.execute(select(ItemRow.id, ItemRow.signals).where(
            ItemRow.status == "complete", ItemRow.received_at >= utcnow() - window)))
    found = set()
    values = hex_rows_to_array([v for _, v in entries])
    for item_id, signals in items:
        for d in signals:
            if d["type"] != "pdq" or not engine.matcher.trustworthy("pdq", d.get("quality")):
                continue
            names = d.get("names") or dihedral_names
            for k, form in enumerate([d["value"], *d["variants"]]):
                dist = hamming(np.repeat(hex_rows_to_array([form]), len(entries), axis=0), values)
                for j in np.nonzero(dist <= radius)[0].tolist():
                    found.add((str(item_id), entries[j][0], int(dist[j]), names[k]))
    return found


def _bank(engine: Engine, value: str) -> int:
    entry, _ = engine.add_entry("partner", EntryInput("pdq", value, []), added_by="test")
    return int(entry.id)


def test_held_forms_follow_the_store_between_passes_and_match_exactly_what_a_full_comparison_finds(
        engine: Engine) -> None:
    rng = np.random.default_rng(5)
    window = engine.retro.window
    items = [_item(_signals(rng, region=k % 2 == 0)) for k in range(12)]
    low_quality = _item(_signals(rng, quality=10))
    too_old = _item(_signals(rng), at=utcnow() - window - timedelta(days=1))
    stage2 = _item(_signals(rng, region=False), pending="regions")  # complete, but its forms may still grow
    text_only = _item([{"type": "md5", "value": rng.bytes(16).hex()}])
    _store(engine, [*items, low_quality, too_old, stage2, text_only])
    engine.banks.create("partner")
    engine.retro.item_batch = 5  # several pages and id batches
    for k, (position, form, bits) in enumerate([(1, 0, 0), (1, 5, 12), (2, 2, 20), (1, 7, 31)]):
        sig = items[2 * k]["signals"][position]
        _bank(engine, _near([sig["value"], *sig["variants"]][form], bits, rng))
    for other in (low_quality, too_old, stage2):
        _bank(engine, other["signals"][1]["variants"][2])  # exact copies: only the stage-2 item may match
    _bank(engine, _near(items[1]["signals"][1]["value"], 32, rng))  # one bit past the radius
    first = engine.retro.run()
    held = engine.retro.held_forms
    assert held is not None and len(held) == 14  # 12 items, the low-quality one, the text-only one
    assert first.items_scanned == 15 and (first.items_matched, first.matches) == (5, 5)
    expected = _brute_force(engine, window)
    assert _stored_matches(engine) == expected
    assert stage2["id"] in {m[0] for m in expected}  # searched from its stored signals

    # the store changes: an item deleted, one out of the window, new items, the stage-2 item final and grown
    gone, old = items[3], items[6]
    with engine.db.session() as s:
        s.execute(delete(ItemRow).where(ItemRow.id == gone["id"]))
        s.execute(update(ItemRow).where(ItemRow.id == old["id"])
                  .values(received_at=utcnow() - window - timedelta(days=2)))
        grown = [*stage2["signals"], _signals(rng)[2]]
        s.execute(update(ItemRow).where(ItemRow.id == stage2["id"]).values(stage2_pending=None, signals=grown))
    later = [_item(_signals(rng)) for _ in range(3)]
    _store(engine, later)
    fresh = {_bank(engine, gone["signals"][1]["variants"][0]),  # deleted: must not match
             _bank(engine, old["signals"][1]["variants"][1]),  # out of the window: must not match
             _bank(engine, _near(later[1]["signals"][2]["variants"][1], 9, rng)),
             _bank(engine, _near(grown[2]["variants"][0], 4, rng)),  # a form the stage-2 item gained
             _bank(engine, _near(items[8]["signals"][1]["variants"][3], 2, rng))}
    second = engine.retro.run()
    assert second.items_scanned == 16  # 15 - deleted - out of the window + 3 new
    assert len(held) == 16 and stage2["id"] in held._ordinal and gone["id"] not in held._ordinal
    assert (second.items_matched, second.matches) == (3, 3)
    now = _stored_matches(engine)
    assert {m for m in now if m[1] not in fresh} == expected
    assert {m for m in now if m[1] in fresh} == {m for m in _brute_force(engine, window) if m[1] in fresh}
    assert not {m[0] for m in now if m[1] in fresh} & {gone["id"], old["id"]}


def test_a_restarted_process_holds_the_forms_again_and_finds_the_same_matches(engine: Engine) -> None:
    """The held forms live in memory: a new matcher (a restart) rebuilds them from the store, exactly."""
    rng = np.random.default_rng(9)
    items = [_item(_signals(rng)) for _ in range(6)]
    _store(engine, items)
    engine.banks.create("partner")
    synced = engine.retro.sync_forms(["pdq"])
    assert synced is not None and (synced.added, synced.items) == (6, 6)
    held = engine.retro.held_forms
    assert held is not None and held.forms() == 6 * 11
    status = engine.retro.status()["held_forms"]
    assert (status["types"], status["items"], status["forms"]) == (["pdq"], 6, 66) and status["memory_bytes"] > 0
    _bank(engine, _near(items[3]["signals"][2]["variants"][1], 6, rng))
    engine.retro._forms = None  # what a restart leaves
    report = engine.retro.run()
    assert report.matches == 1
    assert _stored_matches(engine) == _brute_force(engine, engine.retro.window)


def test_dropped_items_are_folded_out_and_a_form_that_cannot_be_held_is_searched_from_the_store(
        engine: Engine) -> None:
    rng = np.random.default_rng(13)
    items = [_item(_signals(rng)) for _ in range(8)]
    odd = _signals(rng)
    odd[1]["variants"][3] = odd[1]["variants"][3][:62]  # not 64 hex digits: not held
    odd_item = _item(odd)
    _store(engine, [*items, odd_item])
    since = utcnow() - timedelta(days=1)
    held = ItemFormIndex(["pdq"])
    synced = held.sync(engine.db, since, 3)
    assert synced.volatile == [odd_item["id"]] and len(held) == 8 and held.forms() == 8 * 11
    with engine.db.session() as s:
        s.execute(delete(ItemRow).where(ItemRow.id.in_([items[k]["id"] for k in range(3)])))
    synced = held.sync(engine.db, since, 3)
    assert synced.dropped == 3 and len(held) == 5 and held.forms() == 5 * 11  # a quarter dead: folded out
    value = items[5]["signals"][2]["variants"][0]
    hits = held.search("pdq", [42], [value], 31)
    assert list(zip(hits.item_ids, hits.positions, hits.places, hits.entry_ids, hits.distances, strict=True)) == [
        (items[5]["id"], 2, 1, 42, 0)]
    assert held.search("pdq", [1], [items[0]["signals"][1]["value"]], 31).item_ids == []


def test_saved_forms_are_loaded_after_a_restart_and_a_damaged_save_is_read_again_from_the_store(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(17)
    items = [_item(_signals(rng)) for _ in range(5)]
    _store(engine, items)
    engine.retro.snapshot_dir = tmp_path / "forms"
    engine.retro.sync_forms(["pdq"])  # everything is new: saved
    assert (tmp_path / "forms" / "CURRENT").exists()
    later = _item(_signals(rng))
    _store(engine, [later])
    with engine.db.session() as s:
        s.execute(delete(ItemRow).where(ItemRow.id == items[0]["id"]))

    loaded = ItemFormIndex.load(tmp_path / "forms")  # what the save holds: the five items, ready to search
    assert len(loaded) == 5 and loaded.forms() == 5 * 11
    engine.banks.create("partner")
    near_later = _near(later["signals"][1]["variants"][4], 3, rng)
    _bank(engine, items[0]["signals"][1]["value"])  # deleted since the save: must not match
    _bank(engine, near_later)  # stored since the save: must match
    _bank(engine, _near(items[2]["signals"][2]["value"], 30, rng))
    engine.retro._forms = None  # a restart
    report = engine.retro.run()
    held = engine.retro.held_forms
    assert held is not None and len(held) == 5 and items[0]["id"] not in held._ordinal
    assert (report.items_matched, report.matches) == (2, 2)
    assert _stored_matches(engine) == _brute_force(engine, engine.retro.window)

    target = tmp_path / "forms" / (tmp_path / "forms" / "CURRENT").read_text()
    data = (target / "pdq.snap").read_bytes()
    (target / "pdq.snap").write_bytes(data[: len(data) // 2])  # a save cut short
    with pytest.raises(SnapshotError):
        ItemFormIndex.load(tmp_path / "forms")
    engine.retro._forms = None
    _bank(engine, _near(items[4]["signals"][1]["variants"][0], 1, rng))
    with caplog.at_level(logging.WARNING, logger="seawall.uploads.retro"):
        report = engine.retro.run()
    assert "not used" in caplog.text
    assert report.matches == 1 and len(engine.retro.held_forms or ()) == 5
    assert _stored_matches(engine) == _brute_force(engine, engine.retro.window)
