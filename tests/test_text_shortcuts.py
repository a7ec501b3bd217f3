"""The cheaper ways text signals are computed give exactly what the plain ways gave.

Text items are decided by the thousand a second, so their signals skip work that cannot change the
result: regexes are not run on texts lacking what every match holds, and short posts are winnowed in
plain Python. A stored value that changed would stop matching the banks, so each shortcut is compared
with the straightforward computation on generated texts, links and obfuscations included.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import numpy.typing as npt
import pytest

from seawall.normalize.urls import _BARE, _REFANG, _SPACED_DOT, _URL_WITH_SCHEME, _spaced_suffixes, refang
from seawall.signals.text_fingerprint import MAX_QUERY_CHARS, SHINGLE, WINDOW, fingerprints

PIECES = ["community", "notice", "hxxp://", "hXXps://", "h**p://", "http://", "[.]", "(.)", "{dot}", "< . >", "[:]//",
          "[://]", "(://)", "[/]", "example", ".", " . ", "com", "org", "localhost", "[::1]", ":8080", "/path?q=1",
          "www.", "site", "xx", "**", "ذبح", "Ğüzel", "日本", " ", "  ", "\n", "12345", "e.g.", "file.txt", "(", ")"]


def _texts(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(PIECES) + rnd.choice(["", " "]) for _ in range(rnd.randint(0, 30))) for _ in range(n)]


def _refang_every_pattern(text: str) -> str:
    for pattern, repl, _ in _REFANG:
        text = pattern.sub(repl, text)

    def glue(m: object) -> str:
        assert hasattr(m, "group")
        return f"{m.group(1)}.{m.group(2)}" if m.group(2).lower() in _spaced_suffixes() else m.group(0)
    return _SPACED_DOT.sub(glue, text)


@pytest.mark.parametrize("seed", range(4))
def test_refang_skipping_patterns_changes_nothing(seed: int) -> None:
    texts = _texts(seed, 500)
    assert sum(refang(t) != t for t in texts) > 50  # the texts do hold defanged links
    for text in texts:
        assert refang(text) == _refang_every_pattern(text), text


@pytest.mark.parametrize("seed", range(4))
def test_link_patterns_are_skipped_only_where_they_cannot_match(seed: int) -> None:
    for text in _texts(seed, 500):
        clean = refang(text)
        if "://" not in clean:
            assert _URL_WITH_SCHEME.search(clean) is None, clean
        if "." not in clean:
            assert _BARE.search(clean) is None, clean


def _fingerprints_plainly(normalized: str) -> npt.NDArray[np.uint32]:
    """The winnowing as first written: every 12-gram hashed to an int, NumPy window minima, np.unique."""
    s = normalized.replace(" ", "")[:MAX_QUERY_CHARS]
    if len(s) < SHINGLE:
        return np.zeros(0, dtype=np.uint32)
    data = s.encode("utf-32-le")
    n = len(s) - SHINGLE + 1
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(data[4 * i: 4 * (i + SHINGLE)], digest_size=4).digest(), "little")
         for i in range(n)), dtype=np.uint32, count=n)
    if n <= WINDOW:
        return np.unique(hashes[[int(np.argmin(hashes))]])
    windows = np.lib.stride_tricks.sliding_window_view(hashes, WINDOW)
    picks = np.unique(np.arange(n - WINDOW + 1) + windows.argmin(axis=1))
    seen: dict[int, None] = dict.fromkeys(hashes[picks].tolist())
    return np.fromiter(seen, dtype=np.uint32, count=len(seen))


@pytest.mark.parametrize("alphabet", ["ab", "abc ", "abcdefghijklmnopqrstuvwxyz  ", "a", "ذبح الكفار ",
                                      "z€ß\U0001f600\U0010fffd\x00\u00ff "])
def test_fingerprints_are_the_plain_winnowing(alphabet: str) -> None:
    rnd = random.Random(alphabet)
    for length in [0, 5, 11, 12, 13, 16, 17, 18, 30, 60, 200, 405, 406, 407, 411, 412, 1000, 3000]:
        for _ in range(4):
            text = "".join(rnd.choice(alphabet) for _ in range(length))
            got, want = fingerprints(text), _fingerprints_plainly(text)
            assert got.dtype == want.dtype == np.uint32
            assert got.tolist() == want.tolist(), text
