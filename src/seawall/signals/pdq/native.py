"""The reference PDQ C++ functions called directly, without holding the GIL and with the luma shared.

Why: ``pdqhash``'s Python functions hold the GIL for the whole C++ hash, rebuild the greyscale (luma)
plane from the RGB pixels on every call and turn each hash into a 256-element NumPy vector through a
Python loop. An image query runs the reference up to four times (:func:`.signal.pdq_dihedral_from_pixels`),
so on a two-core server those costs were most of an upload's CPU and every other request thread of the
process waited for them.

The C++ entry points ``pdqHash256FromFloatLuma`` and ``pdqDihedralHash256esFromFloatLuma`` are exported
by the ``pdqhash`` extension module itself; they are called here through :mod:`ctypes` (which releases
the GIL for the call) on a float32 luma plane computed exactly as ``pdqhash`` computes it
(``R*0.299 + G*0.587 + B*0.114`` in float64, then rounded to float32). A mirrored copy of that plane
is the luma of the mirrored pixels, element for element, so mirrored runs reuse it. The hash words are
formatted straight to hex. The bits are therefore the reference's, unchanged: tests compare every
value with ``pdqhash.compute`` / ``compute_dihedral``.

When the symbols cannot be found (a ``pdqhash`` built differently), :data:`AVAILABLE` is false and the
callers use ``pdqhash``'s Python functions instead.
"""

from __future__ import annotations

import ctypes
import logging
import threading

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

_HASH_SYMBOL = "_ZN8facebook3pdq7hashing23pdqHash256FromFloatLumaEPfS2_iiPA64_fS4_PA16_fRNS1_7Hash256ERi"
_DIHEDRAL_SYMBOL = ("_ZN8facebook3pdq7hashing33pdqDihedralHash256esFromFloatLumaEPfS2_iiPA64_fS4_PA16_fS6_"
                    "PNS1_7Hash256ES8_S8_S8_S8_S8_S8_S8_Ri")


class Hash256(ctypes.Structure):
    """``facebook::pdq::hashing::Hash256``: sixteen 16-bit words, word 15 the most significant."""

    _fields_ = [("w", ctypes.c_uint16 * 16)]


_FloatPtr = ctypes.POINTER(ctypes.c_float)
_Buf64x64 = ctypes.c_float * (64 * 64)
_Buf16x64 = ctypes.c_float * (16 * 64)
_Buf16x16 = ctypes.c_float * (16 * 16)


def _load() -> tuple[ctypes._CFuncPtr, ctypes._CFuncPtr] | None:  # type: ignore[name-defined]
    try:
        from pdqhash import bindings

        lib = ctypes.CDLL(bindings.__file__)
        one = getattr(lib, _HASH_SYMBOL)
        eight = getattr(lib, _DIHEDRAL_SYMBOL)
    except (ImportError, OSError, AttributeError) as exc:
        log.info("reference PDQ entry points not found (%s): using pdqhash's Python functions", exc)
        return None
    hash_ptr = ctypes.POINTER(Hash256)
    int_ptr = ctypes.POINTER(ctypes.c_int)
    one.restype = None
    one.argtypes = [_FloatPtr, _FloatPtr, ctypes.c_int, ctypes.c_int, _FloatPtr, _FloatPtr, _FloatPtr,
                    hash_ptr, int_ptr]
    eight.restype = None
    eight.argtypes = [_FloatPtr, _FloatPtr, ctypes.c_int, ctypes.c_int, _FloatPtr, _FloatPtr, _FloatPtr,
                      _FloatPtr, *([hash_ptr] * 8), int_ptr]
    return one, eight


_FUNCS = _load()
#: Whether the reference entry points were found (else callers fall back to ``pdqhash``'s functions).
AVAILABLE = _FUNCS is not None


def luma(pixels: npt.NDArray[np.uint8], out: F32 | None = None) -> F32:
    """The float32 luma plane ``pdqhash`` hashes, bit for bit: float64 ``R*0.299 + G*0.587 + B*0.114``
    (in that order), rounded to float32; written into ``out`` when given.

    Computed pixel by pixel in compiled code (:mod:`.luma_kernel`, imported on first use) rather than as
    NumPy expressions: those made five passes over megabytes of float64 temporaries, which on a busy
    server cost more than a mirrored PDQ run. Each pixel's value depends on its three bytes alone, so a
    test compares all 2^24 colours with the NumPy expression ``pdqhash`` uses.
    """
    if out is None:
        out = np.empty(pixels.shape[:2], dtype=np.float32)
    from seawall.signals.pdq.luma_kernel import luma_kernel

    luma_kernel(np.ascontiguousarray(pixels), out)
    return out


def hex_of(h: Hash256) -> str:
    """The hash as 64 hex characters, most significant word first (as ``bits_to_hex`` of ``pdqhash``'s vector)."""
    # the sixteen little-endian words, word 15 the most significant, are one little-endian 256-bit number
    # (a third of the time of reversing the words through numpy; eight hashes per image upload)
    return format(int.from_bytes(bytes(h), "little"), "064x")


def _ptr(a: F32) -> ctypes._Pointer[ctypes.c_float]:
    return a.ctypes.data_as(_FloatPtr)


def hash_luma(plane: F32) -> tuple[str, int]:
    """The PDQ hash (hex) and quality of a luma plane; the plane is used as scratch space and overwritten."""
    assert _FUNCS is not None and plane.dtype == np.float32 and plane.flags.c_contiguous
    rows, cols = plane.shape
    scratch = np.empty_like(plane)
    out, quality = Hash256(), ctypes.c_int(0)
    _FUNCS[0](_ptr(plane), _ptr(scratch), rows, cols, _Buf64x64(), _Buf16x64(), _Buf16x16(),
              ctypes.byref(out), ctypes.byref(quality))
    return hex_of(out), int(quality.value)


def dihedral_luma(plane: F32) -> tuple[list[str], int]:
    """The reference's eight derived hashes (``compute_dihedral``'s order) and quality of a luma plane;
    the plane is used as scratch space and overwritten."""
    assert _FUNCS is not None and plane.dtype == np.float32 and plane.flags.c_contiguous
    rows, cols = plane.shape
    scratch = np.empty_like(plane)
    outs = [Hash256() for _ in range(8)]
    quality = ctypes.c_int(0)
    _FUNCS[1](_ptr(plane), _ptr(scratch), rows, cols, _Buf64x64(), _Buf16x64(), _Buf16x16(), _Buf16x16(),
              *(ctypes.byref(o) for o in outs), ctypes.byref(quality))
    return [hex_of(o) for o in outs], int(quality.value)


def flipped(plane: F32, rows: bool, cols: bool) -> F32:
    """A C-contiguous copy of the plane with rows and/or columns reversed (always a copy: hashing overwrites it)."""
    view = plane[::-1] if rows else plane
    return (view[:, ::-1] if cols else view).copy(order="C")


_first_call = threading.Lock()
_warmed = False


def warm() -> None:
    """Run each entry point once under a lock, so any one-time set-up inside the C++ (its DCT matrix)
    happens before calls from several threads at once."""
    global _warmed
    if _FUNCS is None or _warmed:
        return
    with _first_call:
        if not _warmed:
            sample = np.full((64, 64), 128.0, dtype=np.float32)
            hash_luma(sample.copy())
            dihedral_luma(sample)
            _warmed = True


warm()
