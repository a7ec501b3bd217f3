"""The language identifier Seawall runs scores every text exactly as py3langid's own does.

Seawall widens the model rows a text touches to float32 before the product (see
``seawall.media.language._Float32Scores``); these tests compare its per-language scores, bit for bit,
and its answers with py3langid's unchanged identifier over the same model on many generated texts.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from py3langid.langid import LanguageIdentifier

from seawall.media.language import MAX_CHARS, _get_identifier, detect_language

WORDS = {
    "latin": ["lantern", "orchard", "copper", "river", "meadow", "quiet", "harbour", "silver", "morning",
              "garden", "fenêtre", "marché", "straße", "mañana", "über", "cação", "jardín", "kitabu", "pasar"],
    "arabic": ["مرحبا", "السوق", "الحديقة", "الجسر", "المكتبة", "صباح", "نهر", "مدينة"],
    "cyrillic": ["привет", "рынок", "сад", "мост", "библиотека", "утро", "река"],
    "cjk": ["你好", "市场", "花园", "桥", "图书馆", "早上"],
    "other": ["123", "4.5", "#tag", "@someone", "https://example.org/x", "ÄÖÜ", "ÇA", "!!", "…", "\u200b"],
}


def generated_text(rng: random.Random) -> str:
    """A text of 1 to several hundred words, mostly from one script with others mixed in, any casing."""
    main = rng.choice(list(WORDS))
    n = rng.choice([1, 2, 3, 5, 8, 13, 40, 120, 400])
    words = [rng.choice(WORDS[main] if rng.random() < 0.8 else WORDS[rng.choice(list(WORDS))]) for _ in range(n)]
    text = rng.choice([" ", "  ", "\n", " , "]).join(words)
    return text.upper() if rng.random() < 0.1 else text


@pytest.fixture(scope="module")
def identifiers() -> tuple[LanguageIdentifier, LanguageIdentifier]:
    fast = _get_identifier()
    reference = LanguageIdentifier(fast.nb_ptc, fast.nb_pc, fast.nb_classes, fast.tk_nextmove, fast.tk_output,
                                   norm_probs=True, tk_row=fast.tk_row)
    assert type(reference) is LanguageIdentifier and type(fast) is not LanguageIdentifier
    return fast, reference


#: 300 texts in the fast loop; the 3,000 of the full comparison (the first 300 among them) in `make test`.
@pytest.mark.parametrize("texts", [300, pytest.param(3000, marks=pytest.mark.slow)])
def test_scores_are_bit_identical_to_py3langid(identifiers: tuple[LanguageIdentifier, LanguageIdentifier],
                                               texts: int) -> None:
    fast, reference = identifiers
    rng = random.Random(20261203)
    for _ in range(texts):
        text = generated_text(rng)[:MAX_CHARS]
        got, want = fast._decide(text), reference._decide(text)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), text
        assert fast.classify(text) == reference.classify(text)


def test_detected_language_is_the_reference_answer(
        identifiers: tuple[LanguageIdentifier, LanguageIdentifier]) -> None:
    _, reference = identifiers
    rng = random.Random(7)
    named = 0
    for _ in range(500):
        text = generated_text(rng)
        lang = detect_language(text)
        if lang is None:
            continue
        named += 1
        flat = " ".join(text[: MAX_CHARS * 2].split())
        code, confidence = reference.classify(flat[:MAX_CHARS])
        assert (lang.code, lang.confidence) == (code, float(confidence))
    assert named > 100


def test_float32_mirror_widens_only_rows_texts_touch_and_follows_a_new_table(
        identifiers: tuple[LanguageIdentifier, LanguageIdentifier]) -> None:
    """The float32 copy of the model holds only the rows texts used, and scores as the float16 table does;
    when the table is replaced (``set_languages``) the copy is made again from the new one."""
    from seawall.media.language import _Float32Scores

    shared, _ = identifiers
    args = (shared.nb_ptc, shared.nb_pc, shared.nb_classes, shared.tk_nextmove, shared.tk_output)
    fast = _Float32Scores(*args, norm_probs=True, tk_row=shared.tk_row)
    reference = LanguageIdentifier(*args, norm_probs=True, tk_row=shared.tk_row)
    rng = random.Random(13)
    texts = [generated_text(rng)[:MAX_CHARS] for _ in range(60)]
    for text in texts + texts:  # the second pass reads rows widened by the first
        assert np.array_equal(fast._decide(text).view(np.uint32), reference._decide(text).view(np.uint32))
    assert fast._mirror is not None
    table, rows32, widened = fast._mirror
    assert table is shared.nb_ptc
    assert 0 < int(widened.sum()) < table.shape[0] // 10
    assert not rows32[~widened].any()  # rows no text touched were never written
    assert np.array_equal(rows32[widened], table[widened].astype(np.float32))
    langs = ["en", "fr", "de", "ar", "ru"]
    fast.set_languages(langs)
    reference.set_languages(langs)
    for text in texts:
        assert np.array_equal(fast._decide(text).view(np.uint32), reference._decide(text).view(np.uint32))
        assert fast.classify(text) == reference.classify(text)
    assert fast._mirror[0] is fast.nb_ptc and fast._mirror[1].shape == (table.shape[0], len(langs))
