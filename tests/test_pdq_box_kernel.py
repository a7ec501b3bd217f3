"""The compiled box pass (:mod:`seawall.signals.pdq.box_kernel`) gives, bit for bit, the reference's
``boxAlongColsFloat`` of the plane or of its row-reversed copy, and on the transposed plane its
``boxAlongRowsFloat`` (as :mod:`seawall.signals.pdq.staged` uses it), for the windows PDQ uses and others."""

from __future__ import annotations

import numpy as np
import pytest

from seawall.signals.pdq import staged
from seawall.signals.pdq.box_kernel import along_cols

SHAPES = [(64, 64), (64, 65), (127, 128), (128, 129), (200, 300), (255, 256), (511, 513), (512, 512),
          (1024, 768), (70, 3000), (19, 90)]


def _reference(kind: str, plane: np.ndarray, window: int) -> np.ndarray:
    assert staged._LOADED is not None
    out = np.empty_like(plane)
    rows, cols = plane.shape
    staged._LOADED[0][kind](staged._ptr(plane), staged._ptr(out), rows, cols, window)
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{h}x{w}" for h, w in SHAPES])
def test_every_pass_equals_the_reference_bit_for_bit(shape: tuple[int, int]) -> None:
    assert staged.AVAILABLE
    rows, cols = shape
    rng = np.random.default_rng(rows * 7 + cols)
    # values of every magnitude, so the sums round at every step
    plane = (rng.normal(128, 60, shape) * rng.choice([1e-3, 1.0, 1e3], shape)).astype(np.float32)
    before = plane.copy()
    assert staged._LOADED is not None
    window = staged._LOADED[0]["window"]
    for size in sorted({window(cols, 64), window(rows, 64), 1, 2, 3, 5, 8}):
        for mirrored in (False, True):
            transposed, mine_t = np.ascontiguousarray(plane.T), np.empty((cols, rows), dtype=np.float32)
            along_cols(transposed, mine_t, size, mirrored)
            expected = _reference("rows", np.ascontiguousarray(plane[:, ::-1]) if mirrored else plane, size)
            assert np.array_equal(mine_t.T.view(np.uint32), expected.view(np.uint32)), ("rows", size, mirrored)
            mine = np.empty_like(plane)
            along_cols(plane, mine, size, mirrored)
            expected = _reference("cols", np.ascontiguousarray(plane[::-1]) if mirrored else plane, size)
            assert np.array_equal(mine.view(np.uint32), expected.view(np.uint32)), ("cols", size, mirrored)
    assert np.array_equal(plane, before)
