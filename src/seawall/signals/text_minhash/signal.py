"""Near-duplicate text: MinHash over character shingles of the de-obfuscated text.

Re-posted propaganda is rarely byte-identical: words are added, dropped or moved. The share of
character 5-grams two texts have in common (their Jaccard similarity) falls slowly under such edits
and is near zero between unrelated texts; a 128-slot MinHash estimates it and an LSH index finds
candidates without comparing against every bank entry.

Signatures are computed with ``rensa`` (Rust): in ``benchmarks/bench_text.py`` it is an order of
magnitude faster than ``datasketch`` at the same estimation error. Its output depends on its
algorithm version, so the value carries that version and the shingle size; values from another
version are refused rather than silently never matching.

Value: ``mh<rensa algorithm version>k<shingle size>.<base64url of 128 little-endian uint32 slots>``,
one token without spaces, as hash-list lines need. Distance: ``100 - round(100 × estimated Jaccard)``.
"""

from __future__ import annotations

import array
import base64
import binascii
import re

import numpy as np
import numpy.typing as npt
import rensa

from seawall.errors import InvalidInput
from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.normalize import matching_text
from seawall.signals.base import SignalType

NUM_PERM = 128
SHINGLE = 5
SEED = 0x5EA
#: Shorter normalised texts have too few shingles for a stable estimate; ``text_sha256`` covers them.
MIN_CHARS = 24
ALGORITHM = f"mh{rensa.RMinHash.ALGORITHM_VERSION}k{SHINGLE}"
_VALUE = re.compile(r"^(mh\d+k\d+)\.([A-Za-z0-9_-]+)$")
#: The ``array`` type code of an unsigned 32-bit int on this platform.
_U32 = next(code for code in "IL" if array.array(code).itemsize == 4)
_B64_LEN = len(base64.urlsafe_b64encode(bytes(4 * NUM_PERM)).rstrip(b"="))


def shingles(normalized: str, k: int = SHINGLE) -> list[str]:
    """Character k-grams; a text shorter than k is its own single shingle."""
    if len(normalized) <= k:
        return [normalized]
    return list({normalized[i:i + k] for i in range(len(normalized) - k + 1)})


def signature(normalized: str) -> npt.NDArray[np.uint32]:
    """MinHash slots of a normalised text."""
    m = rensa.RMinHash(num_perm=NUM_PERM, seed=SEED)
    m.update(shingles(normalized))
    # through a C array of unsigned 32-bit ints: numpy converting the 128 Python ints one by one cost more
    # than the MinHash itself (a value outside uint32 raises OverflowError either way)
    return np.frombuffer(array.array(_U32, m.digest()), dtype=np.uint32)


def encode(sig: npt.NDArray[np.uint32]) -> str:
    return f"{ALGORITHM}." + base64.urlsafe_b64encode(sig.astype("<u4").tobytes()).rstrip(b"=").decode("ascii")


def decode(value: str) -> npt.NDArray[np.uint32]:
    """Slots of a stored value (already normalised); raises :class:`InvalidInput` if it is not one."""
    m = _VALUE.match(value)
    if m is None or len(m.group(2)) != _B64_LEN:
        raise InvalidInput(
            f"text_minhash must look like '{ALGORITHM}.<{_B64_LEN} base64url characters>'",
            code="invalid_signal_value",
        )
    if m.group(1) != ALGORITHM:
        raise InvalidInput(
            f"text_minhash value was made with {m.group(1)!r}; this server computes {ALGORITHM!r} and the two "
            "cannot be compared", code="invalid_signal_value",
        )
    try:
        raw = base64.urlsafe_b64decode(m.group(2) + "=" * (-len(m.group(2)) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("text_minhash is not valid base64url", code="invalid_signal_value") from exc
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32)


def jaccard_distance(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> int:
    return 100 - round(100 * float(np.count_nonzero(a == b)) / NUM_PERM)


class TextMinHashSignal(SignalType):
    name = "text_minhash"
    seawall_only = True
    account_evidence = "texts"
    #: Images: the text OCR reads in an uploaded image (see :meth:`Content.signal_text`).
    content_types = ("text", "image")
    #: Measured in ``benchmarks/bench_text.py``: 99.8% of disguised or edited re-posts are within 50 of
    #: their original (p99 42), the nearest of 10,000 unrelated texts was at 57 (p0.1 66).
    default_threshold = 50
    #: The widest radius a bank may ask for: the LSH bands still find a pair at J = 0.45 with probability 0.98.
    max_threshold = 55

    def normalize(self, value: str) -> str:
        v = value.strip() if isinstance(value, str) else ""
        decode(v)
        return v

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        text = content.signal_text(for_query=for_query)
        if not text:
            return []
        norm = matching_text(text)
        if len(norm) < MIN_CHARS:
            return []
        return [ComputedSignal(type=self.name, value=encode(signature(norm)))]

    def distance(self, a: str, b: str) -> int:
        return jaccard_distance(decode(a), decode(b))

    def slots(self, value: str) -> npt.NDArray[np.uint32]:
        return decode(value)

    def create_index(self) -> SignalIndex:
        from seawall.signals.text_minhash.index import MinHashIndex

        return MinHashIndex()
