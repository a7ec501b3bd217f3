"""The 12-gram hashes and window minima of ``text_fingerprint``, compiled.

Why: a one-line post has some fifty 12-grams, and each cost a ``hashlib.blake2b`` object, a digest
and a slice (about 1.3 µs apiece, most of the signal's 66 µs). A 12-gram of UTF-32 is 48 bytes, one
BLAKE2b block, so its hash is a single compression, done here for every 12-gram in one call; the
result is the very digest ``hashlib`` gives (RFC 7693, 4-byte digest, no key), which
``tests/test_text_shortcuts.py`` checks against ``hashlib`` over texts of every size and script.
No library call can take its place: numba's compiled loop cannot call ``hashlib`` (an object per hash is
the very cost removed), no dependency hashes many short messages in one call, and another hash function
would change every fingerprint already stored.

A module of its own: importing numba and loading the cached kernels is paid by the first text a
process fingerprints (servers do it in their warm-up), not by every process that loads the registry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

_IV = np.array([0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
                0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179], dtype=np.uint64)
#: The message schedule of RFC 7693: round r uses row r mod 10 (rounds 10 and 11 reuse rows 0 and 1).
_SIGMA = np.array([
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
], dtype=np.int64)
#: h[0] of a 4-byte digest without key: the IV's first word xor the parameter block's first word.
_H0 = np.uint64(0x6A09E667F3BCC908 ^ 0x01010004)
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_R32, _R24, _R16, _R63 = np.uint64(32), np.uint64(24), np.uint64(16), np.uint64(63)
_L32, _L40, _L48, _L1 = np.uint64(32), np.uint64(40), np.uint64(48), np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def _mix(a: np.uint64, b: np.uint64, c: np.uint64, d: np.uint64, x: np.uint64,
         y: np.uint64) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """BLAKE2b's G function on four state words and two message words."""
    a = a + b + x
    d = d ^ a
    d = (d >> _R32) | (d << _L32)
    c = c + d
    b = b ^ c
    b = (b >> _R24) | (b << _L40)
    a = a + b + y
    d = d ^ a
    d = (d >> _R16) | (d << _L48)
    c = c + d
    b = b ^ c
    b = (b >> _R63) | (b << _L1)
    return a, b, c, d


@njit(cache=True, nogil=True)
def gram_hashes(codepoints: npt.NDArray[np.uint32], width: int) -> npt.NDArray[np.uint32]:
    """For each run of ``width`` code points (``width`` ≤ 32: one block), the first four bytes,
    little-endian, of the BLAKE2b-32 digest of its UTF-32-LE bytes."""
    n = codepoints.size - width + 1
    out = np.empty(max(n, 0), dtype=np.uint32)
    m = np.zeros(16, dtype=np.uint64)
    length = np.uint64(4 * width)
    for i in range(n):
        for k in range(width):  # the block, as 16 little-endian words (its tail stays zero)
            cp = np.uint64(codepoints[i + k])
            if k % 2 == 0:
                m[k // 2] = cp
            else:
                m[k // 2] |= cp << _L32
        v0, v1, v2, v3, v4, v5, v6, v7 = _H0, _IV[1], _IV[2], _IV[3], _IV[4], _IV[5], _IV[6], _IV[7]
        v8, v9, v10, v11 = _IV[0], _IV[1], _IV[2], _IV[3]
        v12 = _IV[4] ^ length  # bytes compressed so far (the counter's high word stays zero)
        v13 = _IV[5]
        v14 = _IV[6] ^ _ALL_ONES  # the last block
        v15 = _IV[7]
        for r in range(12):
            s = _SIGMA[r % 10]
            v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[s[0]], m[s[1]])
            v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[s[2]], m[s[3]])
            v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[s[4]], m[s[5]])
            v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[s[6]], m[s[7]])
            v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[s[8]], m[s[9]])
            v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[s[10]], m[s[11]])
            v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[s[12]], m[s[13]])
            v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[s[14]], m[s[15]])
        out[i] = np.uint32((_H0 ^ v0 ^ v8) & _LOW32)
    return out


@njit(cache=True, nogil=True)
def window_minima(hashes: npt.NDArray[np.uint32], window: int) -> npt.NDArray[np.uint32]:
    """The smallest hash of every ``window`` consecutive ones, window by window."""
    count = hashes.size - window + 1
    out = np.empty(max(count, 0), dtype=np.uint32)
    for i in range(count):
        low = hashes[i]
        for k in range(1, window):
            if hashes[i + k] < low:
                low = hashes[i + k]
        out[i] = low
    return out
