"""The faster text fingerprint and MinHash code computes exactly what the earlier code computed.

The reference functions below are the previous implementations, kept here verbatim in behaviour: window
minima picked one window at a time, ``np.unique`` to sort, numpy converting the MinHash slots one by one.
Every generated text (short posts, long posts, repeated and space-stripped text, several scripts) must
give identical fingerprints, values and signatures.
"""

from __future__ import annotations

import base64
import hashlib
import random

import numpy as np
import numpy.typing as npt
import pytest
import rensa

from seawall.normalize import matching_text
from seawall.signals import text_fingerprint as tf
from seawall.signals.text_minhash import signal as mh

WORDS = ["lantern", "orchard", "copper", "river", "meadow", "quiet", "harbour", "silver", "morning", "garden",
         "مرحبا", "السوق", "привет", "рынок", "你好", "市场", "fenêtre", "straße", "1234", "x", "aa"]


def reference_fingerprints(normalized: str) -> npt.NDArray[np.uint32]:
    s = normalized.replace(" ", "")[:tf.MAX_QUERY_CHARS]
    n = len(s) - tf.SHINGLE + 1
    if n < 1:
        return np.zeros(0, dtype=np.uint32)
    data = s.encode("utf-32-le")
    width = 4 * tf.SHINGLE
    hashes = np.frombuffer(b"".join([hashlib.blake2b(data[i:i + width], digest_size=4).digest()
                                     for i in range(0, 4 * n, 4)]), dtype="<u4").astype(np.uint32)
    if n <= tf.WINDOW:
        return hashes[[int(np.argmin(hashes))]]
    h = hashes.tolist()
    seen: dict[int, None] = {}
    last = -1
    for i in range(n - tf.WINDOW + 1):
        window = h[i:i + tf.WINDOW]
        pick = i + window.index(min(window))
        if pick != last:
            seen[h[pick]] = None
            last = pick
    return np.fromiter(seen, dtype=np.uint32, count=len(seen))


def reference_encode(fps: npt.NDArray[np.uint32]) -> str:
    raw = np.unique(fps).astype("<u4").tobytes()
    return f"{tf.VERSION}." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def reference_signature(normalized: str) -> npt.NDArray[np.uint32]:
    m = rensa.RMinHash(num_perm=mh.NUM_PERM, seed=mh.SEED)
    m.update(mh.shingles(normalized))
    return np.asarray(m.digest(), dtype=np.uint32)


def generated_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 3, 4, 6, 10, 20, 60, 150, 700, 2500])
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.2:  # a repeated phrase: equal 12-grams, equal window minima
        words = (words[:4] or ["same"]) * rng.randint(2, 30)
    text = " ".join(words)
    return text.replace(" ", "") if rng.random() < 0.1 else text


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
def test_fingerprints_and_values_match_the_previous_code() -> None:
    rng = random.Random(1312)
    sizes = set()
    for _ in range(1500):
        norm = matching_text(generated_text(rng))
        got, want = tf.fingerprints(norm), reference_fingerprints(norm)
        assert got.dtype == want.dtype and got.tolist() == want.tolist(), norm
        assert tf.encode(got) == reference_encode(want)
        sizes.add(got.size)
    assert max(sizes) > tf._PYTHON_SORT_MAX and 0 in sizes and 1 in sizes


def test_encode_matches_np_unique_on_arrays_with_repeats() -> None:
    rng = np.random.default_rng(5)
    for size in [0, 1, 2, 7, 100, tf._PYTHON_SORT_MAX, tf._PYTHON_SORT_MAX + 1, 5000]:
        for _ in range(20):
            fps = rng.integers(0, 2**32 if size > 50 else 20, size=size, dtype=np.uint64).astype(np.uint32)
            assert tf.encode(fps) == reference_encode(fps)


#: 100 texts in the fast loop; the 1,000 of the full comparison (the first 100 among them) in `make test`.
@pytest.mark.parametrize("texts", [100, pytest.param(1000, marks=pytest.mark.slow)])
def test_minhash_signature_matches_the_previous_code(texts: int) -> None:
    rng = random.Random(99)
    for _ in range(texts):
        norm = matching_text(generated_text(rng))
        got, want = mh.signature(norm), reference_signature(norm)
        assert got.dtype == want.dtype == np.uint32 and got.shape == want.shape
        assert np.array_equal(got, want), norm
        assert mh.encode(got) == mh.encode(want)
