"""Text signals: exact hash of the de-obfuscated text, MinHash LSH and TLSH, alone and through the API.

Every text is generated from word lists: nothing real is used.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import tlsh
from fastapi.testclient import TestClient

from seawall.engine import Engine
from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.normalize import normalize_text
from seawall.signals.text_minhash.index import MinHashIndex, candidate_probability
from seawall.signals.text_minhash.signal import ALGORITHM, MIN_CHARS, TextMinHashSignal, encode, signature
from seawall.signals.text_sha256 import TextSha256Signal
from seawall.signals.tlsh.index import TlshIndex
from seawall.signals.tlsh.signal import TlshSignal, tlsh_digest

from .conftest import auth


def _words(text: str) -> list[str]:
    return text.split()


WORDS = {
    "en": _words("the our we will rise march join stand together dawn banner front brothers city river mountain "
           "victory call hour truth path strength honor duty nation people leader young strong forward "
           "history future home village field song message hands hearts gate wall bridge tower"),
    "ar": _words("في من على إلى مع هذا نحن كل يوم ليلة المدينة الأرض الطريق النور صوت الإخوة مسيرة انضموا نداء "
           "ساعة النصر الحق القوة الشرف الواجب الراية الفجر الوعد المجد الحرية الأمة الشعب القائد"),
}


def make_text(seed: int, lang: str = "en", n_words: int = 40) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS[lang]) for _ in range(n_words)) + "."


def edit(text: str, seed: int, lang: str = "en", n: int = 3) -> str:
    """Insert and delete a few words, as a re-poster does."""
    rng = random.Random(seed)
    words = text.split()
    for _ in range(n):
        words.insert(rng.randrange(len(words)), rng.choice(WORDS[lang]))
        del words[rng.randrange(len(words))]
    return " ".join(words)


def disguise(text: str) -> str:
    """Cyrillic look-alikes, zero-width spaces, leet and shouting, all undone by normalisation."""
    look = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р"}
    out = []
    for i, ch in enumerate(text):
        ch = look.get(ch, ch) if i % 3 == 0 else ch
        out.append(ch.upper() if i % 7 == 0 else ch)
        if i % 5 == 0 and ch.isalpha():
            out.append("\u200b")
    return "".join(out).replace("strength", "str3ngth")


def text_content(text: str) -> Content:
    return Content(content_type="text", text=text)


# --- text_sha256 -------------------------------------------------------------------------------


def test_text_sha256_equal_for_disguised_text_and_different_for_edited() -> None:
    sig = TextSha256Signal()
    t = make_text(1)
    a = sig.compute(text_content(t))[0].value
    assert sig.compute(text_content(disguise(t)))[0].value == a
    assert sig.compute(text_content(edit(t, 2)))[0].value != a
    assert sig.compute(text_content("   !!! ")) == []
    assert sig.normalize(a.upper()) == a
    with pytest.raises(InvalidInput):
        sig.normalize("abc")


# --- text_minhash ------------------------------------------------------------------------------


def test_minhash_value_is_one_token_and_round_trips() -> None:
    sig = TextMinHashSignal()
    v = sig.compute(text_content(make_text(3)))[0].value
    assert v.startswith(ALGORITHM + ".") and " " not in v and len(v) < 700
    assert sig.normalize(f"  {v}\n") == v
    assert sig.distance(v, v) == 0
    for bad in ("", "mh2k5.abc", v[:-4], v.replace(ALGORITHM, "mh9k5"), v[:-1] + "!"):
        with pytest.raises(InvalidInput):
            sig.normalize(bad)


def test_minhash_distance_separates_edits_from_unrelated_texts() -> None:
    sig = TextMinHashSignal()
    for seed in range(10):
        t = make_text(seed)
        a = sig.compute(text_content(t))[0].value
        edited = sig.compute(text_content(disguise(edit(t, seed + 100))))[0].value
        unrelated = sig.compute(text_content(make_text(seed + 1000)))[0].value
        assert sig.distance(a, edited) <= sig.default_threshold, seed
        assert sig.distance(a, unrelated) > sig.default_threshold, seed


def test_minhash_skips_short_texts() -> None:
    assert TextMinHashSignal().compute(text_content("join us now")) == []
    assert len(normalize_text("x" * MIN_CHARS)) < MIN_CHARS  # stretched letters do not make a text long


@pytest.mark.parametrize("scan_limit", [0, 10_000], ids=["lsh", "scan"])
def test_minhash_index_finds_near_duplicates_within_radius(scan_limit: int) -> None:
    ix = MinHashIndex(scan_limit=scan_limit)
    texts = [make_text(s) for s in range(200)]
    ix.add([(i + 1, encode(signature(normalize_text(t)))) for i, t in enumerate(texts)])
    ix.add([(1, encode(signature(normalize_text(texts[0]))))])  # an id already present is ignored
    assert len(ix) == 200
    for i in range(0, 200, 10):
        q = encode(signature(normalize_text(edit(texts[i], i))))
        hits = ix.search([q], 50)
        assert [c.entry_id for c in hits] == [i + 1], i
        assert 0 < hits[0].distance <= 50
        assert all(c.distance <= 5 for c in ix.search([q], 5)) and len(ix.search([q], 0)) == 0
    ix.remove([(11, "")])
    assert ix.search([encode(signature(normalize_text(texts[10])))], 50) == []
    assert len(ix) == 199


def test_minhash_lsh_agrees_with_exhaustive_scan() -> None:
    """The bands must not lose matches the full comparison finds (probability 0.996 per pair at 50)."""
    lsh, scan = MinHashIndex(scan_limit=0), MinHashIndex(scan_limit=10**9)
    values = [(i, encode(signature(normalize_text(make_text(i))))) for i in range(300)]
    lsh.add(values)
    scan.add(values)
    queries = [encode(signature(normalize_text(edit(make_text(i), i, n=6)))) for i in range(0, 300, 3)]
    got = {(c.query_index, c.entry_id) for c in lsh.search(queries, 50)}
    want = {(c.query_index, c.entry_id) for c in scan.search(queries, 50)}
    assert want and got == want
    assert candidate_probability(0.5) > 0.99


# --- tlsh --------------------------------------------------------------------------------------


def test_tlsh_only_for_texts_of_50_bytes_or_more() -> None:
    sig = TlshSignal()
    assert sig.compute(text_content("join us at dawn")) == []
    assert tlsh_digest(b"a" * 200) is None  # too uniform for TLSH
    v = sig.compute(text_content(make_text(5)))[0].value
    assert v.startswith("T1") and len(v) == 72
    assert sig.normalize(v.lower()) == v and sig.normalize(v[2:]) == v
    with pytest.raises(InvalidInput):
        sig.normalize("T1XYZ")


def _length(seed: int) -> int:
    """Texts from a dozen words to a few pages, so the length part of the distance varies too."""
    return 12 + (seed * 37) % 700


def test_tlsh_index_is_exact_against_brute_force() -> None:
    ix = TlshIndex()
    digests = [tlsh_digest(normalize_text(make_text(s, n_words=_length(s))).encode()) for s in range(300)]
    rows = [(i, d) for i, d in enumerate(digests) if d]
    ix.add(rows)
    for radius in (40, 120, 250, 300):
        for qi in range(0, 300, 25):
            q = tlsh_digest(normalize_text(edit(make_text(qi, n_words=_length(qi)), qi)).encode())
            assert q is not None
            got = {(c.entry_id, c.distance) for c in ix.search([q], radius)}
            want = {(i, tlsh.diff(q, d)) for i, d in rows if tlsh.diff(q, d) <= radius}
            assert got == want, (radius, qi)
    ix.remove([(0, "")])
    assert all(c.entry_id != 0 for c in ix.search([rows[0][1]], 300))


# --- end to end through the API ------------------------------------------------------------------


def _computed(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for sig in (TextSha256Signal(), TextMinHashSignal(), TlshSignal()):
        for s in sig.compute(text_content(text)):
            out[s.type] = s.value
    return out


def _submit(client: TestClient, key: str, text: str, cid: str) -> dict[str, Any]:
    r = client.post("/v1/items", json={"content_id": cid, "text": text}, headers=auth(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_disguised_and_edited_reposts_blocked_through_the_api(client: TestClient, keys: dict[str, str]) -> None:
    admin, sub = auth(keys["admin"]), keys["submitter"]
    assert client.post("/v1/banks", json={"name": "slogans", "labels": ["behaviour:recruitment"]},
                       headers=admin).status_code == 201
    en, ar = make_text(42), make_text(43, "ar")
    for text in (en, ar):
        for st, value in _computed(text).items():
            r = client.post("/v1/banks/slogans/entries", json={"signal_type": st, "value": value}, headers=admin)
            assert r.status_code == 201, r.text

    cases = {
        "disguised": (disguise(en), "text_sha256"),
        "edited": (edit(en, 7), "text_minhash"),
        "disguised+edited": (disguise(edit(en, 8)), "text_minhash"),
        "arabic-vowelled": ("".join(ch + ("\u064e" if i % 2 else "") for i, ch in enumerate(ar)), "text_sha256"),
        "arabic-edited": (edit(ar, 9, "ar"), "text_minhash"),
    }
    for name, (text, expected) in cases.items():
        v = _submit(client, sub, text, name)
        assert v["verdict"] == "block", (name, v)
        types = {m["signal_type"] for m in v["matches"]}
        assert expected in types, (name, types)
        assert all("behaviour:recruitment" in m["labels"] for m in v["matches"])
    for seed in (100, 101):
        v = _submit(client, sub, make_text(seed), f"unrelated-{seed}")
        assert v["verdict"] == "allow" and v["matches"] == [], v
    v = _submit(client, sub, make_text(102, "ar"), "unrelated-ar")
    assert v["verdict"] == "allow", v


def test_text_hashes_import_as_hash_list_lines(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    admin = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "shared-text", "thresholds": {"text_minhash": 40}}, headers=admin)
    text = make_text(77)
    body = "".join(f"{st} {value}\n" for st, value in _computed(text).items()) + "text_minhash notavalue\n"
    r = client.post("/v1/banks/shared-text/import", content=body, headers={**admin, "Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["rejected"]) == (3, 1)
    exported = client.get("/v1/banks/shared-text/export", headers=admin).text
    assert {line.split()[0] for line in exported.splitlines() if line} == {"text_sha256", "text_minhash", "tlsh"}
    v = _submit(client, keys["submitter"], edit(text, 1, n=2), "re-post")
    assert v["verdict"] == "block"
    assert client.post("/v1/banks", json={"name": "too-wide", "thresholds": {"text_minhash": 90}},
                       headers=admin).status_code == 422


def test_text_content_banked_through_the_engine(engine: Engine) -> None:
    engine.banks.create("from-content")
    text = make_text(55)
    results, refused = engine.add_entries_from_content(
        "from-content", engine.content("text", text=text), labels=[], note="", source="test", added_by="test")
    assert not refused
    assert {e.signal_type for e, _ in results} >= {"text_sha256", "text_minhash", "tlsh"}
    assert not {e.signal_type for e, _ in results} & {"url", "domain", "url_prefix"}
    item = engine.submit(engine.content("text", text=disguise(edit(text, 3))), content_id="x")
    assert item.verdict.verdict == "block"
    assert engine.submit(engine.content("text", text=make_text(56)), content_id="y").verdict.verdict == "allow"


def test_tlsh_header_and_body_parts_add_up_to_the_distance() -> None:
    """The index's pruning is exact only if its parts sum to ``tlsh.diff``; check that on varied pairs."""
    from seawall.signals.tlsh.index import body_table, parse

    table = body_table()
    digests = [d for s in range(120) if (d := tlsh_digest(normalize_text(make_text(s, n_words=_length(s))).encode()))]

    def ring(x: int, y: int, r: int) -> int:
        return min(abs(x - y), r - abs(x - y))

    for a, b in zip(digests, digests[7:] + digests[:7], strict=True):
        pa, pb = parse(a), parse(b)
        assert pa is not None and pb is not None
        (ha, ba), (hb, bb) = pa, pb
        ld = ring(int(ha[1]), int(hb[1]), 256)
        total = ld if ld <= 1 else ld * 12
        for k in (2, 3):
            qd = ring(int(ha[k]), int(hb[k]), 16)
            total += qd if qd <= 1 else (qd - 1) * 12
        total += int(ha[0] != hb[0]) + int(table[ba, bb].sum())
        assert total == tlsh.diff(a, b)
