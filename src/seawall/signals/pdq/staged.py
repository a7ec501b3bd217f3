"""The reference PDQ run step by step, so that the mirrored runs of one query share work and skip what is
never read.

Why: an image query hashes up to four mirrored copies of one luma plane
(:func:`.signal.pdq_dihedral_from_pixels`), and a 512-pixel plane spent almost all of each run in the blur.
The reference's ``pdqFloat256FromFloatLuma`` is a fixed sequence of functions the ``pdqhash`` extension
exports: two rounds of a box filter along rows then along columns (``boxAlongRowsFloat``,
``boxAlongColsFloat``), sampling 64×64 values (``decimateFloat``), the quality metric and the DCT; the bits
come from ``pdqBuffer16x16ToBits`` and the derived variants from ``dct16OriginalTo*``. Each box pass filters
every line (row or column) by itself, with the same operations whatever the other lines hold. Hence,
exactly, element for element:

* the first pass along rows of a copy with its rows reversed is the first pass of the plane with its rows
  reversed: the row-mirrored runs reuse the first pass of the runs they mirror;
* the last pass along columns is only read by the sampling at 64 columns: it runs on those columns alone,
  gathered side by side (an eighth of the columns of a 512-pixel plane);
* a pass along rows of a plane is the pass along columns of its transpose, transposed back; a pass along
  columns filters every column at once, each column by the reference's operations in the reference's order
  (:mod:`.box_kernel`, compiled: the columns run in the CPU's vector lanes, about a tenth of the time of
  the reference's line-by-line passes), and a copy with its rows reversed is read from its last row;
* the working planes are kept per thread between calls (a fresh megabyte costs page faults every time).

Every value is computed by the reference's operations (the sampling, quality, DCT and bits by its own
functions), on the same inputs, in the same order, so the floats and the bits are the reference's: tests
compare each hash and quality with ``pdqHash256FromFloatLuma`` / ``pdqDihedralHash256esFromFloatLuma`` run on
the mirrored copies, and each box pass with ``boxAlongRowsFloat`` / ``boxAlongColsFloat``.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from seawall.signals.pdq import native

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
Flip = tuple[bool, bool]

#: Smaller planes take the reference's one-call path (the reference treats tiny sides specially).
MIN_SIDE = 64
#: Planes up to this many pixels keep their working buffers per thread between calls (a 512×1024 plane:
#: three planes of 2 MB); larger ones allocate per call.
REUSE_MAX_PIXELS = 512 * 1024

#: Float buffers are passed as addresses (``ndarray.ctypes.data``): ``data_as`` cost ~10 µs a call, 40 calls a query.
_FloatPtr = ctypes.c_void_p
_c_int = ctypes.c_int

_SYMBOLS = {
    "rows": ("_ZN8facebook3pdq11downscaling17boxAlongRowsFloatEPKfPfiii",
             [_FloatPtr, _FloatPtr, _c_int, _c_int, _c_int], None),
    "cols": ("_ZN8facebook3pdq11downscaling17boxAlongColsFloatEPKfPfiii",
             [_FloatPtr, _FloatPtr, _c_int, _c_int, _c_int], None),
    "decimate": ("_ZN8facebook3pdq11downscaling13decimateFloatEPKfiiPfii",
                 [_FloatPtr, _c_int, _c_int, _FloatPtr, _c_int, _c_int], None),
    "window": ("_ZN8facebook3pdq11downscaling29computeJaroszFilterWindowSizeEii", [_c_int, _c_int], _c_int),
    "quality": ("_ZN8facebook3pdq7hashing27pdqImageDomainQualityMetricEPA64_f", [_FloatPtr], _c_int),
    "dct": ("_ZN8facebook3pdq7hashing9dct64To16EPA64_fS3_PA16_f", [_FloatPtr, _FloatPtr, _FloatPtr], None),
    "bits": ("_ZN8facebook3pdq7hashing20pdqBuffer16x16ToBitsEPA16_fPNS1_7Hash256E",
             [_FloatPtr, ctypes.POINTER(native.Hash256)], None),
}
#: ``dct16OriginalTo*`` in the reference's dihedral order (index 0, the original, needs none).
_DERIVED = ("Rotate90", "Rotate180", "Rotate270", "FlipX", "FlipY", "FlipPlus1", "FlipMinus1")


def _derived_symbol(name: str) -> str:
    return f"_ZN8facebook3pdq7hashing{len('dct16OriginalTo' + name)}dct16OriginalTo{name}EPA16_fS3_"


def _load() -> tuple[dict[str, ctypes._CFuncPtr], list[ctypes._CFuncPtr]] | None:  # type: ignore[name-defined]
    if not native.AVAILABLE:
        return None
    try:
        from pdqhash import bindings

        lib = ctypes.CDLL(bindings.__file__)
        funcs = {}
        for key, (symbol, argtypes, restype) in _SYMBOLS.items():
            fn = getattr(lib, symbol)
            fn.argtypes, fn.restype = argtypes, restype
            funcs[key] = fn
        derived = []
        for name in _DERIVED:
            fn = getattr(lib, _derived_symbol(name))
            fn.argtypes, fn.restype = [_FloatPtr, _FloatPtr], None
            derived.append(fn)
    except (ImportError, OSError, AttributeError) as exc:
        log.info("reference PDQ steps not found (%s): hashing each mirrored copy in one call", exc)
        return None
    return funcs, derived


_LOADED = _load()
#: Whether the reference's steps were found (else callers hash each copy through :mod:`.native`).
AVAILABLE = _LOADED is not None


def _ptr(a: npt.NDArray[np.float32]) -> int:
    """The address of a C-contiguous float32 buffer, for the reference's functions."""
    return int(a.ctypes.data)


@lru_cache(maxsize=64)
def _sampled_columns(cols: int) -> npt.NDArray[np.intp]:
    """The 64 columns ``decimateFloat`` reads from a plane ``cols`` wide, asked of ``decimateFloat`` itself
    (on a one-row plane holding each column's number, exact in float32)."""
    assert _LOADED is not None
    numbers = np.arange(cols, dtype=np.float32)[None, :].copy()
    out = np.empty((64, 64), dtype=np.float32)
    _LOADED[0]["decimate"](_ptr(numbers), 1, cols, _ptr(out), 64, 64)
    return out[0].astype(np.intp)


class _Buffers(threading.local):
    shape: tuple[int, int] | None = None
    planes: tuple[F32, ...] | None = None


_buffers = _Buffers()


def luma_of(pixels: npt.NDArray[np.uint8]) -> F32:
    """:func:`.native.luma` of ``pixels`` in this thread's kept plane (when small enough): valid until this
    thread's next call, which is all :func:`mirrored_runs` needs."""
    shape = pixels.shape[:2]
    if shape[0] * shape[1] > REUSE_MAX_PIXELS:
        return native.luma(pixels)
    return native.luma(pixels, _planes(shape)[5])


def _planes(shape: tuple[int, int]) -> tuple[F32, ...]:
    """Two working planes of ``shape``, three of its transpose and one for the luma: this thread's kept ones
    when small enough."""
    if shape[0] * shape[1] > REUSE_MAX_PIXELS:
        return _new_planes(shape)
    if _buffers.shape != shape or _buffers.planes is None:
        _buffers.planes = _new_planes(shape)
        _buffers.shape = shape
    return _buffers.planes


def _new_planes(shape: tuple[int, int]) -> tuple[F32, ...]:
    rows, cols = shape
    return tuple(np.empty(s, dtype=np.float32) for s in ((rows, cols), (rows, cols), (cols, rows),
                                                          (cols, rows), (cols, rows), (rows, cols)))


class _Scratch(threading.local):
    """This thread's small buffers for the DCT and the derived variants, with their addresses (taken once:
    ``ndarray.ctypes.data`` costs microseconds a call, and a query makes dozens)."""

    def __init__(self) -> None:
        self.rows16x64 = np.empty((16, 64), dtype=np.float32)
        self.rows16x64_at = _ptr(self.rows16x64)
        self.variant = np.empty((16, 16), dtype=np.float32)
        self.variant_at = _ptr(self.variant)
        self.hash = native.Hash256()
        self.hash_ref = ctypes.byref(self.hash)


_scratch = _Scratch()


class Run:
    """The 16×16 DCT and quality of one mirrored copy; :meth:`hex` gives any of its eight derived hashes."""

    __slots__ = ("dct", "dct_at", "quality")

    def __init__(self, dct: F32, quality: int) -> None:
        self.dct = dct
        self.dct_at = _ptr(dct)
        self.quality = quality

    def hex(self, variant: int) -> str:
        """Hash ``variant`` (0 the copy itself, else ``compute_dihedral``'s order) as 64 hex characters."""
        assert _LOADED is not None
        funcs, derived = _LOADED
        scratch = _scratch
        source = self.dct_at
        if variant:
            derived[variant - 1](source, scratch.variant_at)
            source = scratch.variant_at
        funcs["bits"](source, scratch.hash_ref)
        return native.hex_of(scratch.hash)


def mirrored_runs(plane: F32, flips: Iterable[Flip]) -> dict[Flip, Run]:
    """The reference's DCT and quality for each copy of ``plane`` with (rows reversed, columns reversed)
    as listed; ``plane`` is read, not changed. Requires :data:`AVAILABLE` and both sides >= :data:`MIN_SIDE`.

    The box passes are :mod:`.box_kernel`'s (the reference's operations on many lines side by side); those
    along rows run along the columns of the transposed plane, transposes made by OpenCV (a copy), so a
    mirrored copy is only ever read mirrored. The sampling, quality, DCT and bits are the reference's.
    """
    assert _LOADED is not None and plane.dtype == np.float32 and plane.flags.c_contiguous
    from seawall.signals.pdq.box_kernel import along_cols as box_cols

    funcs = _LOADED[0]
    rows, cols = plane.shape
    assert min(rows, cols) >= MIN_SIDE
    along_rows = funcs["window"](cols, 64)
    along_cols = funcs["window"](rows, 64)
    sampled = _sampled_columns(cols)
    first, second, second_t, plane_t, work_t, _ = _planes((rows, cols))
    wanted = list(dict.fromkeys(flips))
    _into(cv2.transpose(plane, plane_t), plane_t)
    out: dict[Flip, Run] = {}
    for flip_cols in (False, True):
        group = [f for f in wanted if f[1] == flip_cols]
        if not group:
            continue
        # first pass along rows (each row read from its end for the column-reversed copies), shared by the group
        box_cols(plane_t, work_t, along_rows, flip_cols)
        _into(cv2.transpose(work_t, first), first)
        for flip in group:
            box_cols(first, second, along_cols, flip[0])  # rows reversed: the pass reads them from the last
            _into(cv2.transpose(second, second_t), second_t)
            box_cols(second_t, work_t, along_rows, False)
            out[flip] = _finish(work_t, sampled, along_cols)
    return out


def _into(result: npt.NDArray[Any], target: F32) -> None:
    """OpenCV wrote into ``target`` (it allocates a new array instead when shape or type differ)."""
    assert result is target or np.shares_memory(result, target)


def _finish(third_t: F32, sampled: npt.NDArray[np.intp], along_cols: int) -> Run:
    """The last pass along columns at the sampled columns only (rows of the transposed third pass), the
    reference's sampling (``decimateFloat`` of 64 gathered columns only picks rows: a gather), its quality
    and its DCT."""
    assert _LOADED is not None
    from seawall.signals.pdq.box_kernel import along_cols as box_cols

    funcs = _LOADED[0]
    rows = third_t.shape[1]
    # the 64 rows gathered, then transposed by OpenCV: numpy's strided copy of the transposed view took
    # five times as long
    picked = np.take(third_t, sampled, axis=0)
    gathered = np.empty((rows, picked.shape[0]), dtype=np.float32)
    _into(cv2.transpose(picked, gathered), gathered)
    blurred = np.empty_like(gathered)
    box_cols(gathered, blurred, along_cols, False)
    buffer64 = blurred[_sampled_columns(rows)]
    at = _ptr(buffer64)
    quality = int(funcs["quality"](at))
    dct = np.empty((16, 16), dtype=np.float32)
    funcs["dct"](at, _scratch.rows16x64_at, _ptr(dct))
    return Run(dct, quality)


def hash_plane(plane: F32) -> tuple[str, int]:
    """PDQ hash (hex) and quality of a luma plane, as ``pdqHash256FromFloatLuma``; ``plane`` is not changed."""
    run = mirrored_runs(plane, [(False, False)])[(False, False)]
    return run.hex(0), run.quality
