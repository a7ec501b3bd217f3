"""Bulk-seed past image items straight into the store: the setup of the retro-matching benchmarks.

Why: storing 1,000,000 past items through the ORM insert took 1,183 s on a loaded machine, longer than
the whole benchmark may run, although it is only the setup; the part measured is the retro pass that
reads them back. This writes the same ``items`` rows an image upload writes (the columns retro-matching
and ``load_item`` read), with one multi-row statement per batch (SQLite, ``executemany`` on the driver
connection) or ``COPY`` (PostgreSQL), and JSON text built by formatting instead of a dump per value.

The shape of one item is the shape of an image upload whose region stage ran:

* ``md5`` and ``sha256`` of the (made-up) bytes;
* ``pdq``: the whole picture with its seven rotations/flips (8 forms);
* ``pdq``: the region guesses (inner rectangles, small turns, edges added), ``region_forms`` forms with
  their names (17 for the typical upload), when ``region_forms`` > 0;
* ``pdq_crop``: the whole picture and the same guesses (``region_forms + 1`` forms), not searched by a
  ``pdq`` entry but read and decoded like the rest.

``hashes`` holds every PDQ form of every item, ``(items, 8 + region_forms, 32)`` bytes: dihedral forms
first, region guesses after, so a caller can plant a near copy of any form and know which item it hits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from seawall.store.db import Database
from seawall.store.tables import ItemRow

DIHEDRAL_FORMS = 8
#: Names an upload's region stage gives its guesses (a typical picture: no text band, no lettering).
REGION_NAMES = ("inner rectangle", "inner rectangle inse", "inner rectangle", "inner rectangle inse",
                "inner rectangle", "inner rectangle inse", "turned +3°", "turned -3°", "turned +6°",
                "turned -6°", "turned +9°", "turned -9°", "top edge 8% added", "bottom edge 8% added",
                "left edge 8% added", "right edge 8% added", "all edges 8% added")
COLUMNS = ("id", "content_id", "account_id", "content_type", "received_at", "size_bytes", "signals", "verdict",
           "reasons", "status")
BATCH = 20_000


@dataclass(frozen=True, slots=True)
class SeededItems:
    """What was stored: item ids in the order of ``hashes``' first axis."""

    ids: list[str]


def region_names(region_forms: int) -> list[str]:
    """Names for ``region_forms`` guesses: the usual ones, then numbered extras."""
    return [REGION_NAMES[k] if k < len(REGION_NAMES) else f"guess {k}" for k in range(region_forms)]


def _strings(values: Sequence[str]) -> str:
    """A JSON list of strings that need no escaping (hex digits)."""
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _signals_json(hexes: Sequence[str], md5: str, sha: str, region_forms: int, names_json: str,
                  crop_names_json: str) -> str:
    """The ``signals`` column of one item, as the JSON text the ORM would write for the same list."""
    dihedral = hexes[:DIHEDRAL_FORMS]
    parts = [f'{{"type": "md5", "value": "{md5}"}}', f'{{"type": "sha256", "value": "{sha}"}}',
             f'{{"type": "pdq", "value": "{dihedral[0]}", "quality": 90, "variants": {_strings(dihedral[1:])}}}']
    if region_forms:
        region = hexes[DIHEDRAL_FORMS:]
        parts.append(f'{{"type": "pdq", "value": "{region[0]}", "quality": 90, "variants": {_strings(region[1:])}, '
                     f'"names": {names_json}}}')
        parts.append(f'{{"type": "pdq_crop", "value": "{dihedral[0]}", "quality": 90, "variants": {_strings(region)}, '
                     f'"names": {crop_names_json}}}')
    return "[" + ", ".join(parts) + "]"


def _rows(hashes: npt.NDArray[np.uint8], ids: list[str], now: datetime, window: timedelta,
          rng: np.random.Generator) -> Iterator[list[tuple[Any, ...]]]:
    """Row tuples in ``COLUMNS`` order, ``BATCH`` at a time; received within ``window`` before ``now``."""
    import json

    n, forms, _ = hashes.shape
    region_forms = forms - DIHEDRAL_FORMS
    names = region_names(region_forms)
    names_json = json.dumps(names)
    crop_names_json = json.dumps(["whole upload", *names])
    span = max(1, int(window.total_seconds()) - 60)
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        b = stop - start
        text = hashes[start:stop].tobytes().hex()
        step = 64 * forms
        digests = rng.bytes(48 * b).hex()
        ages = rng.integers(0, span, b).tolist()
        rows = []
        for j in range(b):
            i = start + j
            row_hex = text[j * step:(j + 1) * step]
            hexes = [row_hex[k * 64:(k + 1) * 64] for k in range(forms)]
            d = digests[j * 96:(j + 1) * 96]
            rows.append((ids[i], f"past-{i}", f"acct-{i % 5000}", "image", now - timedelta(seconds=ages[j]),
                         100_000, _signals_json(hexes, d[:32], d[32:], region_forms, names_json, crop_names_json),
                         "allow", '["no bank matched"]', "complete"))
        yield rows


def seed_items(db: Database, hashes: npt.NDArray[np.uint8], rng: np.random.Generator, *,
               window: timedelta = timedelta(days=90), now: datetime | None = None) -> SeededItems:
    """Store one complete, allowed image item per row of ``hashes`` (see the module docstring)."""
    from seawall.store.tables import utcnow

    if hashes.ndim != 3 or hashes.shape[1] < DIHEDRAL_FORMS or hashes.shape[2] != 32:
        raise ValueError("hashes must be (items, 8 + region forms, 32) bytes")
    now = now or utcnow()
    ids = [uuid.UUID(bytes=rng.bytes(16)).hex for _ in range(hashes.shape[0])]
    batches = _rows(hashes, ids, now, window, rng)
    if db.dialect == "postgresql":
        _copy_postgres(db, batches)
    else:
        _insert_sqlite(db, batches)
    return SeededItems(ids)


def _insert_sqlite(db: Database, batches: Iterator[list[tuple[Any, ...]]]) -> None:
    """One ``executemany`` per batch on the driver connection, dates rendered as the ORM renders them."""
    dialect = db.engine.dialect
    when = ItemRow.__table__.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert when is not None
    sql = f"INSERT INTO items ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for rows in batches:
            cur.executemany(sql, [(*r[:4], when(r[4]), *r[5:]) for r in rows])
            raw.commit()
        cur.close()
    finally:
        raw.close()


def _copy_postgres(db: Database, batches: Iterator[list[tuple[Any, ...]]]) -> None:
    """``COPY items FROM STDIN``, one transaction per batch; then ``ANALYZE`` so plans see the rows."""
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        for rows in batches:
            with conn.cursor() as cur, cur.copy(f"COPY items ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            conn.commit()
        with conn.cursor() as cur:
            cur.execute("ANALYZE items")
        conn.commit()
    finally:
        raw.close()
