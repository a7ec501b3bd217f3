"""The compiled luma kernel of :func:`seawall.signals.pdq.native.luma`, in a module of its own.

Why apart: importing numba costs a quarter of a second and loading the cached kernel as much again.
Every process that loads the signal registry imports :mod:`~seawall.signals.pdq.native` (CLI commands,
import and offload workers, most of which never hash a picture), so the kernel is imported on the
first luma plane instead: only processes that hash pictures pay for it, once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit


@njit(cache=True, nogil=True)
def luma_kernel(pixels: npt.NDArray[np.uint8], out: npt.NDArray[np.float32]) -> None:
    """``out[i, j]`` = float32(float64 R*0.299 + G*0.587 + B*0.114): the same float64 operations in the same
    order as the NumPy expression (no fast-math, so no fused multiply-add), then the one rounding."""
    rows, cols = out.shape
    for i in range(rows):
        for j in range(cols):
            out[i, j] = np.float32(pixels[i, j, 0] * 0.299 + pixels[i, j, 1] * 0.587 + pixels[i, j, 2] * 0.114)
