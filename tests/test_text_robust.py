"""Text re-posts that whole-text hashes missed: look-alike letters decided per word in every script,
digits as letters outside Latin, Persian/Urdu letter forms, a Latin hashtag after a Russian text, and a
banked text quoted inside a longer post or stripped of its spaces (``text_fingerprint``).

Every text is a generated sequence of everyday words (``tests/robust_texts.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from seawall.media.content import Content
from seawall.normalize.text import normalize_text
from seawall.signals.text_fingerprint import TextFingerprintSignal, decode

from .conftest import auth
from .robust_texts import VOCAB, banked_text, evasions, quoted, sentence

SAME_FORM = ("latin look-alikes in words", "cyrillic look-alikes in words", "digits as letters",
             "persian/urdu look-alike letters")


@pytest.mark.parametrize("lang", list(VOCAB))
def test_letter_evasions_normalise_to_the_original(lang: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        text = banked_text(rng, lang)
        for name, evade in evasions(lang).items():
            if name not in SAME_FORM:
                continue
            disguised = evade(text, rng)  # type: ignore[operator]
            assert disguised != text or name == "digits as letters"
            assert normalize_text(disguised) == normalize_text(text), (lang, name, disguised)


def test_look_alikes_are_decided_per_word() -> None:
    assert normalize_text("прoпаганда") == normalize_text("пропаганда")  # Latin o in a Russian word
    assert normalize_text("сoк и рок") == normalize_text("сок и рок")  # only look-alikes: the neighbours decide
    # a Latin hashtag no longer turns a Russian text's look-alike-only words into Latin
    assert normalize_text("погода сорок рок #news") == normalize_text("погода сорок рок") + " news"
    assert normalize_text("Jоin the саuse") == "join the cause"  # Cyrillic look-alikes in English words
    assert normalize_text("ال١سلام") == normalize_text("الاسلام")  # Arabic-Indic one as alef
    assert normalize_text("пр0паганда 3а") == normalize_text("пропаганда за")
    assert normalize_text("\u06a9\u062a\u0627\u0628\u06c3") == normalize_text("كتابة")  # U+06C3 teh marbuta goal
    assert normalize_text("\u0645\u06ba") == normalize_text("من")  # U+06BA noon ghunna
    assert normalize_text("в 2024 году 300") == "в 2024 году 300"  # numbers stay numbers


def test_fingerprint_measures_containment_not_similarity() -> None:
    rng = np.random.default_rng(3)
    sig = TextFingerprintSignal()
    for lang in VOCAB:
        text = banked_text(rng, lang)
        banked = sig.compute(Content("text", text=text))[0].value
        post = quoted(text, rng, lang)
        assert len(post) > 3 * len(text)
        for query in (post, text.replace(" ", ""), post.replace(" ", "")):
            value = sig.compute(Content("text", text=query), for_query=True)[0].value
            assert sig.distance(banked, value) <= sig.default_threshold, (lang, query)
        other = sig.compute(Content("text", text=sentence(rng, lang, 150)), for_query=True)[0].value
        assert sig.distance(banked, other) > sig.default_threshold
        assert decode(banked).size >= 5


def test_too_short_texts_are_not_banked_as_fingerprints() -> None:
    assert TextFingerprintSignal().compute(Content("text", text="short words")) == []


def _bank_text(client: TestClient, key: str, text: str) -> None:
    value = TextFingerprintSignal().compute(Content("text", text=text))[0].value
    r = client.post("/v1/banks/texts/entries", json={"signal_type": "text_fingerprint", "value": value},
                    headers=auth(key))
    assert r.status_code == 201, r.text


def test_quoted_and_space_stripped_reposts_blocked_through_the_api(client: TestClient,
                                                                   keys: dict[str, str]) -> None:
    admin, sub = keys["admin"], keys["submitter"]
    assert client.post("/v1/banks", json={"name": "texts"}, headers=auth(admin)).status_code == 201
    rng = np.random.default_rng(11)
    text = banked_text(rng, "ru")
    _bank_text(client, admin, text)
    for i, post in enumerate((quoted(text, rng, "ru"), text.replace(" ", ""), quoted(text, rng, "ru").upper())):
        r = client.post("/v1/items", json={"content_id": f"t{i}", "text": post}, headers=auth(sub))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["verdict"] == "block", (post, body["reasons"])
        assert body["matches"][0]["signal_type"] == "text_fingerprint"
    r = client.post("/v1/items", json={"content_id": "other", "text": sentence(rng, "ru", 120)}, headers=auth(sub))
    assert r.json()["verdict"] == "allow"
