"""Lists shared by python-threatexchange users: its signal names (``url_md5``, ``trend_query``, raw-text
TLSH) and its ``<type> <signal>`` file, read and written; Seawall's own types stay out of pytx exports."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from fastapi.testclient import TestClient

from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.sharing.base import HashListFormat
from seawall.sharing.pytx_lines import PytxLinesFormat
from seawall.signals.base import SignalType
from seawall.signals.text_tlsh import TextTlshSignal
from seawall.signals.tlsh.signal import TlshSignal
from seawall.signals.trend_query import TrendQuerySignal
from seawall.signals.url_md5 import UrlMd5Signal, pytx_url_md5
from seawall.testing import HashListFormatAutoTest, SignalTypeAutoTest

from .conftest import auth

WORDS = ["river", "bridge", "caravan", "morning", "lantern", "valley", "harbour", "orchard", "signal", "meadow",
         "copper", "winter", "garden", "falcon", "thunder", "ember", "candle", "market", "station", "window"]


def _sentence(seed: int, n: int = 40) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


QUERY = json.dumps({"and": [{"or": ["caravan", "convoy"]}, {"or": ["regex-/bridge(s)? at dawn/"]}],
                    "not": ["repairs"]})


def _bank(client: TestClient, admin: str, name: str) -> None:
    assert client.post("/v1/banks", json={"name": name}, headers=auth(admin)).status_code == 201


def _import(client: TestClient, admin: str, bank: str, body: str, fmt: str = "pytx") -> dict[str, object]:
    r = client.post(f"/v1/banks/{bank}/import", params={"format": fmt}, content=body.encode(),
                    headers={**auth(admin), "Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


def _verdict(client: TestClient, sub: str, cid: str, text: str) -> dict[str, object]:
    r = client.post("/v1/items", json={"content_id": cid, "text": text}, headers=auth(sub))
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


class TestTextTlshConforms(SignalTypeAutoTest):
    def get_signal_type(self) -> SignalType:
        return TextTlshSignal()

    def get_samples(self) -> list[Content]:
        return [Content("text", text=_sentence(1)), Content("text", text=_sentence(2))]


class TestPytxLinesConforms(HashListFormatAutoTest):
    def get_format(self) -> HashListFormat:
        return PytxLinesFormat()

    def get_sample_lines(self) -> list[str]:
        return [f"url_md5 {pytx_url_md5('https://example.org/a')}", f"trend_query {QUERY}",
                f"tlsh {TextTlshSignal().compute(Content('text', text=_sentence(3)))[0].value}",
                f"video_md5 {hashlib.md5(b'generated').hexdigest()}"]

    def get_bad_lines(self) -> list[str]:
        return ["url_md5", "lonely-token-without-a-signal"]


def test_url_md5_is_pytx_s_digest_of_the_link_as_written() -> None:
    # pytx: lowercase, drop the first "scheme://", MD5 of the UTF-8 bytes
    assert pytx_url_md5("HTTPS://Example.ORG/Path?q=1") == hashlib.md5(b"example.org/path?q=1").hexdigest()
    assert pytx_url_md5("www.example.org/x") == hashlib.md5(b"www.example.org/x").hexdigest()
    sig = UrlMd5Signal()
    text = "Read it here: hxxps://www.Example.org/Manifesto-2. And more at news.example.net/feed"
    got = {c.value for c in sig.compute(Content("text", text=text), for_query=True)}
    assert hashlib.md5(b"www.example.org/manifesto-2").hexdigest() in got  # as written, refanged
    assert hashlib.md5(b"example.org/manifesto-2").hexdigest() in got  # canonical, without www.
    assert hashlib.md5(b"news.example.net/feed").hexdigest() in got  # a bare link
    assert sig.compute(Content("text", text=text), for_query=False) == []  # a banked text banks no links
    assert sig.compute(Content("text", text="no links in this sentence at all"), for_query=True) == []


def test_trend_query_follows_and_or_not() -> None:
    sig = TrendQuerySignal()
    value = sig.normalize(QUERY)
    assert sig.normalize(json.dumps(json.loads(QUERY), indent=2)) == value  # one query, one spelling
    index = sig.create_index()
    index.add([(7, value)])
    texts = ["The Caravan crosses the bridges at dawn.",  # hit: any case for words, regex as written
             "The convoy crosses the bridge at dawn after repairs.",  # a "not" term
             "The caravan crosses the river at dawn.",  # second group missing
             "The caravans cross the bridge at dawn."]  # "caravans" is not the word "caravan"
    hits = index.search(texts, 0)
    assert [(h.query_index, h.entry_id) for h in hits] == [(0, 7)]
    assert sig.distance(value, texts[0]) == 0 and sig.distance(value, texts[2]) == 1
    index.remove([(7, value)])
    assert index.search(texts, 0) == []


@pytest.mark.parametrize("bad", ["", "[]", "not json", '{"and": []}', '{"and": [{"or": []}]}',
                                 '{"and": [{"or": ["x"]}], "extra": 1}', '{"and": [{"or": ["regex-/(/"]}]}',
                                 '{"and": [{"or": ["regex-/(a+)+$/"]}]}', '{"and": [{"or": [3]}]}'])
def test_trend_query_refuses_bad_queries(bad: str) -> None:
    with pytest.raises(InvalidInput):
        TrendQuerySignal().normalize(bad)


def test_text_tlsh_hashes_the_raw_text_and_tlsh_the_normalised_one() -> None:
    text = _sentence(5)
    shouted = text.upper()  # normalisation folds case, the raw bytes differ
    raw = TextTlshSignal()
    assert raw.compute(Content("text", text=text))[0].value != raw.compute(Content("text", text=shouted))[0].value
    norm = TlshSignal()
    assert norm.compute(Content("text", text=text))[0].value == norm.compute(Content("text", text=shouted))[0].value
    assert raw.seawall_only is False and norm.seawall_only is True


def test_a_pytx_list_is_imported_and_matches(client: TestClient, keys: dict[str, str]) -> None:
    admin, sub = keys["admin"], keys["submitter"]
    _bank(client, admin, "partner")
    banked = _sentence(11)
    tl = TextTlshSignal().compute(Content("text", text=banked))[0].value
    body = "\n".join([
        "# exported with threatexchange",
        f"url_md5 {pytx_url_md5('https://propaganda.example.com/issue-9')}",
        f"trend_query {QUERY}",
        f"tlsh {tl}",
        "raw_text a sentence pytx keeps verbatim",  # no such Seawall type: rejected by name, line by line
        "",
    ])
    report = _import(client, admin, "partner", body)
    assert report["added"] == 3 and report["rejected"] == 1, report
    assert "raw_text" in str(report["rejected_lines"])
    types = {e["signal_type"] for e in client.get("/v1/banks/partner/entries", headers=auth(admin)).json()}
    assert types == {"url_md5", "trend_query", "text_tlsh"}

    link = _verdict(client, sub, "l1", "new issue out now at https://propaganda.example.com/issue-9 share it")
    assert link["verdict"] == "block", link
    assert any(m["signal_type"] == "url_md5" for m in link["matches"])  # type: ignore[union-attr]
    query = _verdict(client, sub, "q1", "Our convoy meets at the bridge at dawn, brothers.")
    assert any(m["signal_type"] == "trend_query" for m in query["matches"])  # type: ignore[union-attr]
    kept = client.get(f"/v1/items/{query['id']}", headers=auth(sub)).json()
    assert "trend_query" not in {sig["type"] for sig in [*query["signals"], *kept["signals"]]}  # type: ignore[misc]
    same = _verdict(client, sub, "t1", banked)
    assert any(m["signal_type"] == "text_tlsh" for m in same["matches"])  # type: ignore[union-attr]
    other = _verdict(client, sub, "o1", _sentence(12) + " See https://news.example.com/issue-9 for more.")
    assert other["verdict"] == "allow", other
    again = _import(client, admin, "partner", body)
    assert again["added"] == 0 and again["duplicates"] == 3


def test_pytx_export_leaves_out_seawall_only_types(client: TestClient, keys: dict[str, str]) -> None:
    admin = keys["admin"]
    _bank(client, admin, "own")
    r = client.post("/v1/banks/own/entries", json={"text": _sentence(21)}, headers=auth(admin))
    assert r.status_code == 201, r.text
    stored = {e["signal_type"] for e in r.json()["entries"]}
    assert {"text_fingerprint", "text_minhash", "tlsh", "text_tlsh"} <= stored, stored
    _import(client, admin, "own", f"url_md5 {pytx_url_md5('https://x.example.com/')}\n")

    pytx = client.get("/v1/banks/own/export", params={"format": "pytx"}, headers=auth(admin)).text
    types = sorted(line.split(" ", 1)[0] for line in pytx.splitlines())
    # md5 and sha256 of the text's bytes, raw-text TLSH under pytx's name, the link digest; nothing Seawall-only
    assert types == ["md5", "sha256", "tlsh", "url_md5"], pytx
    own = client.get("/v1/banks/own/export", params={"format": "text"}, headers=auth(admin)).text
    assert "text_fingerprint " in own and "text_tlsh " in own  # Seawall's own format keeps everything
    _bank(client, admin, "copy")
    assert _import(client, admin, "copy", pytx)["added"] == 4
