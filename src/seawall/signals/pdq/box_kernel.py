"""The reference PDQ's box filter passes, compiled so that many lines are filtered side by side.

Why: the reference filters one line at a time with a running sum, so every element waits for the one
before it (an add and a subtract of latency each); a 512-pixel plane's pass took about 0.6 ms, ten passes
per image query. A line's values depend on that line alone, so filtering every column at once, element
``k`` of each column before element ``k + 1``, does for each column exactly the operations the reference
does, in its order (float32 add, subtract, divide by the window's count; compiled without fast-math, so
nothing is fused, reordered or replaced by a reciprocal), while the CPU runs the columns in its vector
lanes: a 512-pixel pass takes about 0.04 ms. A pass along rows is this pass on the transposed plane
(:mod:`.staged` transposes with OpenCV). A copy with its rows reversed is read from its last row, never
copied.

Imported on first use, like :mod:`.luma_kernel`, so that processes that never hash a picture do not load
numba. Tests compare every pass with the reference's own ``boxAlongColsFloat`` / ``boxAlongRowsFloat``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F32 = npt.NDArray[np.float32]


@njit(cache=True, nogil=True)
def _lanes(src: F32, dst: F32, length: int, window: int, reverse: bool) -> None:
    """Filter the columns of ``src`` (``length`` × lanes) into ``dst``: each column as the reference filters
    one line of ``length`` values with ``window``; with ``reverse`` each column is read from its end (the
    output is still written from the start)."""
    lanes = src.shape[1]
    half = (window + 2) // 2
    sums = np.zeros(lanes, dtype=np.float32)
    count = 0
    right = 0
    left = 0
    out = 0
    last = length - 1
    for _ in range(half - 1):  # the first sums, nothing written
        r = last - right if reverse else right
        for k in range(lanes):
            sums[k] = sums[k] + src[r, k]
        count += 1
        right += 1
    for _ in range(window - half + 1):  # growing window
        r = last - right if reverse else right
        count += 1
        n = np.float32(count)
        for k in range(lanes):
            sums[k] = sums[k] + src[r, k]
            dst[out, k] = sums[k] / n
        right += 1
        out += 1
    n = np.float32(count)
    for _ in range(length - window):  # full window
        r = last - right if reverse else right
        le = last - left if reverse else left
        for k in range(lanes):
            s = sums[k] + src[r, k]
            s = s - src[le, k]
            sums[k] = s
            dst[out, k] = s / n
        left += 1
        right += 1
        out += 1
    for _ in range(half - 1):  # shrinking window
        le = last - left if reverse else left
        count -= 1
        n = np.float32(count)
        for k in range(lanes):
            sums[k] = sums[k] - src[le, k]
            dst[out, k] = sums[k] / n
        left += 1
        out += 1


@njit(cache=True, nogil=True)
def along_cols(src: F32, dst: F32, window: int, reverse_rows: bool) -> None:
    """``boxAlongColsFloat`` of ``src`` (rows reversed first when ``reverse_rows``) into ``dst``."""
    _lanes(src, dst, src.shape[0], window, reverse_rows)
