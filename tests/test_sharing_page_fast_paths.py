"""The usual feed page (one signal type, no labels, no hash twice) is normalised without folding
duplicates on the subscriber: the result must be exactly the page as listed, and a page that lists a
hash twice must still be folded (stored once, its last listing winning, in first-listed order)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.sharing.exchanges.base import Page, RemoteEntry
from seawall.store.tables import value_digest

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_plain_page_is_normalised_as_listed(tmp_path: Path) -> None:
    eng = build_engine(Settings(data_dir=tmp_path, source_sync=False, retro_window_days=0))
    try:
        values = [secrets.token_hex(32) for _ in range(200)]
        later = T0 + timedelta(hours=1)
        entries = [RemoteEntry("PDQ", v.upper() if i % 7 == 0 else v, [], later if i == 3 else T0, str(i), i)
                   for i, v in enumerate(values)]
        prepared = eng.sources.prepare(Page(entries, [], "cp"), {})
        assert prepared.rejected == []
        assert prepared.good == [("pdq", v, value_digest(v), [], [], later if i == 3 else T0, str(i))
                                 for i, v in enumerate(values)]
        assert prepared.newest == later
        # the same page with one hash listed again further on: stored once, with its last listing
        again = [*entries, RemoteEntry("pdq", values[5], [], T0, "again", len(entries))]
        folded = eng.sources.prepare(Page(again, [], "cp"), {}).good
        assert len(folded) == len(values)
        assert folded[5] == ("pdq", values[5], value_digest(values[5]), [], [], T0, "again")
        assert [g[1] for g in folded] == values
    finally:
        eng.close()
