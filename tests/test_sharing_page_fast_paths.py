"""The usual feed page (one signal type, no labels, no hash twice) takes shorter paths on the subscriber:
normalised without folding duplicates, and formatted for ``COPY`` without escaping each field. Each test
checks the short path gives exactly what the general one does, and that pages it does not fit (labels,
a hash twice, characters ``COPY`` escapes, entries without an id) still take the general path."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.sharing.exchanges.base import Page, RemoteEntry
from seawall.sharing.staged_entries import Good, copy_lines, plain_copy_lines
from seawall.store.tables import value_digest

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _good(n: int, *, firsts: list[datetime | None] | None = None) -> list[Good]:
    out: list[Good] = []
    for i in range(n):
        v = secrets.token_hex(32)
        first = firsts[i % len(firsts)] if firsts else T0
        out.append(("pdq", v, value_digest(v), [], [], first, str(i + 1)))
    return out


def test_plain_copy_lines_equal_the_general_lines() -> None:
    later = T0 + timedelta(seconds=1)
    for entries in (_good(50), _good(50, firsts=[T0, T0, later, None])):
        plain = plain_copy_lines(entries)
        assert plain is not None
        assert plain == copy_lines(entries)


def test_pages_the_plain_lines_do_not_fit_are_left_to_the_general_lines() -> None:
    base = _good(5)
    labelled = [(*base[0][:3], ["a"], ["x"], *base[0][5:]), *base[1:]]
    no_id = [*base[:4], (*base[4][:6], None)]
    tab_in_id = [*base[:4], (*base[4][:6], "a\tb")]
    backslash_in_value = [("text", "a\\b", value_digest("a\\b"), [], [], T0, "9")]
    two_types = [*base[:4], ("md5", "0" * 32, value_digest("0" * 32), [], [], T0, "7")]
    for entries in (labelled, no_id, tab_in_id, backslash_in_value, two_types):
        assert plain_copy_lines(entries) is None
        lines = copy_lines(entries)
        assert len(lines) == len(entries) and all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert "a\\tb" in copy_lines(tab_in_id)[-1] and "a\\\\b" in copy_lines(backslash_in_value)[0]


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
