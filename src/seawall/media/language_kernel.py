"""The byte-DFA walk of the language model, compiled: py3langid's ``visit_counts`` without a Python loop.

Why: py3langid walks a text's UTF-8 bytes through its n-gram automaton one Python iteration per byte
and counts the features it passes with a ``Counter``; for a one-line post that walk was half of the
language identification, and language identification a quarter of deciding a text item. This does
the same walk in machine code and hands back the same features, in the order the ``Counter`` would
(first visit first), with the same counts, so the scores computed from them are bit-identical
(``tests/test_language_scores.py``).

Why a module of its own: importing numba and loading the cached kernel cost a few hundred
milliseconds, paid only by processes that identify languages (see :mod:`seawall.media.language`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit


@njit(cache=True, nogil=True)
def visited_features(nextmove: npt.NDArray[np.uint32], rowbase: npt.NDArray[np.int64],
                     output: npt.NDArray[np.int64], text: npt.NDArray[np.uint8],
                     counts: npt.NDArray[np.int32]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Features the automaton emits over ``text``: (feature ids in order of first visit, their counts).

    ``counts`` is scratch of one zeroed slot per feature; it is left zeroed again.
    """
    order = np.empty(text.size, dtype=np.int64)
    distinct = 0
    state = 0
    for i in range(text.size):
        state = nextmove[rowbase[state] + text[i]]
        f = output[state]
        if f >= 0:
            if counts[f] == 0:
                order[distinct] = f
                distinct += 1
            counts[f] += 1
    idx = order[:distinct].copy()
    seen = np.empty(distinct, dtype=np.int64)
    for k in range(distinct):
        seen[k] = counts[idx[k]]
        counts[idx[k]] = 0
    return idx, seen
