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


def test_compiled_walk_visits_the_features_py3langid_counts_in_its_order() -> None:
    """The compiled automaton walk yields py3langid's ``visit_counts``: same features, counts and order."""
    from collections import Counter

    from py3langid.langid import visit_counts

    from seawall.media.language_kernel import visited_features

    fast = _get_identifier()
    nextmove, rowbase, output = fast._automaton
    counts = np.zeros(int(output.max()) + 1, dtype=np.int32)
    rng = random.Random(29)
    for text in ["", "a", "\u200b"] + [generated_text(rng) for _ in range(300)]:
        data = fast._encode(text[:MAX_CHARS])
        want = visit_counts(fast.tk_nextmove, fast._rowbase, fast.tk_output, data) or Counter()
        idx, seen = visited_features(nextmove, rowbase, output, np.frombuffer(data, dtype=np.uint8), counts)
        assert list(zip(idx.tolist(), seen.tolist(), strict=True)) == list(want.items()), text
        assert not counts.any()  # the scratch is left zeroed for the next text


def test_letter_and_space_gate_is_the_regex_one() -> None:
    """Whitespace runs and the letter count are found as ``\\s+`` and ``[^\\W\\d_]`` find them, over every
    kind of character (letters of many scripts, digits, underscores, marks, odd spaces)."""
    import re

    from seawall.media.language import _ENOUGH_LETTERS, MIN_LETTERS

    letter, spaces = re.compile(r"[^\W\d_]"), re.compile(r"\s+")
    chars = [chr(c) for c in range(0x3000)] + list(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u3000_")
    rng = random.Random(31)
    for _ in range(5000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 24)))
        assert " ".join(text.split()) == spaces.sub(" ", text).strip(), repr(text)
        assert (_ENOUGH_LETTERS.match(text) is not None) == (len(letter.findall(text)) >= MIN_LETTERS), repr(text)
    # long runs of non-letters around fewer letters than needed, and letters at the very end
    for text in ["1 " * 2000 + "abcdefg" + "2 " * 2000, "a1" * 7 + "9" * 4000, "_" * 4000 + "abcdefgh", "é" * 8]:
        assert (_ENOUGH_LETTERS.match(text) is not None) == (len(letter.findall(text)) >= MIN_LETTERS)
