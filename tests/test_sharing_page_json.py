"""A feed page's canonical JSON written from its rows (``page_json``) is, byte for byte, what signing the
page as a dictionary signs (``canonical(page_dict(...))``): subscribers check the signature over exactly
these bytes, and older ones serialise the dictionary again to check it."""

from __future__ import annotations

import json

import pytest

from seawall.sharing.feeds import PageParts, page_dict, page_json
from seawall.sharing.signing import canonical

#: Strings JSON escapes, or writes beyond ASCII as they are (ensure_ascii=False).
AWKWARD = ['plain', 'quote " and \\ backslash', "tab\tnew\nline\r", "control \x00\x1f\x7f", "ünïcödé 漢字 🚀",
           "\u2028\u2029", "</script>", ""]


def _parts(entries: list[tuple[int, str, str, list[str], str | None]], **kw: object) -> PageParts:
    base: dict[str, object] = {
        "feed": "f", "partner": "p", "after": "", "checkpoint": "10.0.5.-.0.0", "more": True,
        "public_key": "AAAA+/=", "signed_at": "2026-12-04T15:00:00.123456+00:00", "entries": entries,
        "tombstones": []}
    base.update(kw)
    return PageParts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", AWKWARD)
def test_page_json_is_the_canonical_json_of_the_page(text: str) -> None:
    entries = [(1, "pdq", "ab" * 32, [], "2026-12-01T00:00:00+00:00"),
               (2**40, text or "md5", text, [text, "group:x"], None),
               (7, "text", "x", ["behaviour:spam"], text)]
    tombstones = [{"id": 3, "signal_type": "md5", "value": text, "deleted_at": None},
                  {"id": 4, "signal_type": text, "value": "v", "deleted_at": "2026-12-02T00:00:00+00:00"}]
    for parts in (_parts(entries, tombstones=tombstones, after=text, more=False),
                  _parts([], feed=text, partner=text),
                  _parts(entries[:1], checkpoint=text, signed_at=text, public_key=text)):
        raw = page_json(parts)
        assert raw == canonical(page_dict(parts))
        assert json.loads(raw) == page_dict(parts)
