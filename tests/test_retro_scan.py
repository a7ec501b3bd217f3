"""Retro-matching's scan: both search directions, chunks and pages find the same matches as a full comparison.

Items are written as an image upload stores them (a ``pdq`` signal with its seven rotations/flips, a
``pdq`` signal of named region guesses, ``pdq_crop``, digests); hashes are random, entries are near
copies of chosen forms, so which (item, entry, form, distance) must match is known exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import insert, select

from seawall.banks.service import EntryInput
from seawall.engine import Engine
from seawall.signals.pdq.index import BruteForcePdqIndex, hex_rows_to_array
from seawall.store.tables import ItemRow, MatchRow, utcnow
from seawall.uploads import retro_scan
from seawall.uploads.retro_scan import EntryIndexSearch, StoredIndexSearch

REGION_NAMES = ["inner rectangle", "turned +3°", "turned -3°", "top edge 8% added", "all edges 8% added"]


def _near(value: str, bits: int, rng: np.random.Generator) -> str:
    b = np.unpackbits(np.frombuffer(bytes.fromhex(value), dtype=np.uint8))
    b[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(b).tobytes().hex()


def _signals(rng: np.random.Generator, quality: int = 90) -> list[dict]:
    dihedral = [rng.bytes(32).hex() for _ in range(8)]
    region = [rng.bytes(32).hex() for _ in REGION_NAMES]
    return [{"type": "md5", "value": rng.bytes(16).hex()},
            {"type": "pdq", "value": dihedral[0], "quality": quality, "variants": dihedral[1:]},
            {"type": "pdq", "value": region[0], "quality": quality, "variants": region[1:], "names": REGION_NAMES},
            {"type": "pdq_crop", "value": dihedral[0], "quality": quality, "variants": region,
             "names": ["whole upload", *REGION_NAMES]}]


def _store(engine: Engine, rows: list[dict]) -> None:
    with engine.db.session() as s:
        s.execute(insert(ItemRow), rows)


def _item(signals: list[dict], *, at: object = None, status: str = "complete") -> dict:
    return {"id": uuid.uuid4().hex, "content_id": uuid.uuid4().hex, "content_type": "image",
            "received_at": at or utcnow() - timedelta(hours=1), "signals": signals, "verdict": "allow",
            "reasons": ["no bank matched"], "status": status}


def _matches(engine: Engine) -> set[tuple[str, int, int, str | None]]:
    with engine.db.session() as s:
        return {(str(r[0]), int(r[1]), int(r[2]), r[3]) for r in
                s.execute(select(MatchRow.item_id, MatchRow.entry_id, MatchRow.distance, MatchRow.variant))}


@pytest.mark.parametrize("direction", ["entry index", "stored index", "held forms"])
def test_both_directions_find_exactly_the_planted_forms_across_pages_chunks_and_ties(
        engine: Engine, direction: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dihedral and region forms, over many pages (ties in received_at across page edges) and chunks, and
    from the forms held between passes."""
    rng = np.random.default_rng(7)
    same_instant = utcnow() - timedelta(hours=2)
    items = [_item(_signals(rng), at=same_instant if k % 3 == 0 else None) for k in range(17)]
    low_quality = _item(_signals(rng, quality=10))
    too_old = _item(_signals(rng), at=utcnow() - timedelta(days=400))
    pending = _item(_signals(rng), status="pending")
    _store(engine, [*items, low_quality, too_old, pending])
    engine.banks.create("partner")
    dihedral_names = engine.registry.signal("pdq").query_variant_names(7)
    plan = [  # (item, signal position, form, bits flipped)
        (0, 1, 0, 0), (3, 1, 5, 12), (4, 2, 3, 20), (9, 2, 0, 7), (9, 1, 2, 3), (16, 1, 7, 31), (12, 2, 4, 1)]
    expected = set()
    for item, position, form, bits in plan:
        sig = items[item]["signals"][position]
        value = _near([sig["value"], *sig["variants"]][form], bits, rng)
        entry, _ = engine.add_entry("partner", EntryInput("pdq", value, []), added_by="test")
        names = sig.get("names") or dihedral_names
        expected.add((items[item]["id"], entry.id, bits, names[form]))
    for other in (low_quality, too_old, pending):  # an exact copy, but not an item retro may act on
        engine.add_entry("partner", EntryInput("pdq", other["signals"][1]["variants"][0], []), added_by="test")
    engine.add_entry("partner", EntryInput("pdq", _near(items[5]["signals"][1]["value"], 32, rng), []),
                     added_by="test")  # one bit past the radius
    for _ in range(5):
        engine.add_entry("partner", EntryInput("pdq", rng.bytes(32).hex(), []), added_by="test")
    monkeypatch.setattr(retro_scan, "STORED_INDEX_MIN_ENTRIES", 1 if direction == "stored index" else 10**9)
    engine.retro.form_index = direction == "held forms"  # else every stored form is read and searched
    engine.retro.item_batch, engine.retro.chunk_forms = 4, 30  # many pages, a chunk every two pages or so
    report = engine.retro.run()
    assert report.items_scanned == 18  # 17 recent complete items and the low-quality one; each once
    assert _matches(engine) == expected
    assert (report.items_matched, report.matches) == (6, 7)
    assert all(engine.items.get(items[k]["id"]).verdict.verdict == "block" for k, *_ in plan)


def test_the_directions_agree_with_a_full_comparison() -> None:
    rng = np.random.default_rng(11)
    forms = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    entries = rng.integers(0, 256, (400, 32), dtype=np.uint8)
    for k, target in enumerate(rng.choice(3000, 60, replace=False).tolist()):
        bits = np.unpackbits(forms[target].copy())
        bits[rng.choice(256, int(rng.integers(0, 40)), replace=False)] ^= 1  # some past the radius
        entries[k] = np.packbits(bits)
    entries[399] = entries[0]  # two entries with one value
    ids = list(range(1000, 1400))
    values = [e.tobytes().hex() for e in entries]
    reference = BruteForcePdqIndex()
    reference.add(np.asarray(ids), entries)
    want = {(r, eid, d) for r, hits in enumerate(reference.search_batch(forms, 31)) for eid, d in hits}
    assert 40 <= len(want) < 80
    for search in (EntryIndexSearch(ids, values), StoredIndexSearch(ids, values)):
        rows, entry_ids, dists = search.search(forms, 31)
        assert set(zip(rows.tolist(), entry_ids.tolist(), dists.tolist(), strict=True)) == want
        assert len(rows) == len(want)  # each pair once
    assert len(hex_rows_to_array(values)) == 400


def test_a_form_that_is_not_64_hex_digits_is_left_out() -> None:
    assert retro_scan.hex_forms("a" * 64, ["b" * 64]) == "a" * 64 + "b" * 64
    assert retro_scan.hex_forms("a" * 64, ["b" * 63, "c" * 65]) is None
    assert retro_scan.hex_forms("a" * 63, []) is None


def test_pages_read_ahead_arrive_in_order_and_a_read_error_reaches_the_pass() -> None:
    pages = [retro_scan.SignalPage(items=k) for k in range(7)]
    assert [p.items for p in retro_scan.read_ahead(iter(pages))] == list(range(7))

    def failing() -> Iterator[retro_scan.SignalPage]:
        yield pages[0]
        raise RuntimeError("store gone")

    got = []
    with pytest.raises(RuntimeError, match="store gone"):
        for page in retro_scan.read_ahead(failing()):
            got.append(page.items)
    assert got == [0]
    reader = retro_scan.read_ahead(iter(pages), depth=1)
    assert next(reader).items == 0
    reader.close()  # the reading thread stops although pages remain
