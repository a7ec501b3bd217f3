"""Index snapshot files: a checked header followed by raw, page-aligned numpy arrays.

Arrays are stored raw (no pickle) so a snapshot loads at disk speed and can be memory-mapped. Every
array carries a CRC32 and the header carries its own, so a torn, truncated or foreign file is
refused with :class:`SnapshotError` and the caller rebuilds from the store instead of trusting it.
Files are written to a temporary name, fsynced and renamed, so a crash never leaves a half-written
snapshot under the real name.

Layout::

    0   8 bytes   magic  b"SWSNAP\\r\\n"
    8   u32 LE    format version
    12  u32 LE    header length (bytes of JSON)
    16  u32 LE    CRC32 of the JSON header
    20  u32 LE    reserved (0)
    24  JSON      {"kind", "meta", "file_size", "arrays": [{name, dtype, shape, offset, nbytes, crc32}]}
    ... arrays, each starting on a 4096-byte boundary
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MAGIC = b"SWSNAP\r\n"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIIII")
_ALIGN = 4096
_ALLOWED_DTYPES = {"<u1", "|u1", "<u4", "<u8", "<i4", "<i8", "<i2", "<u2"}
_CRC_BLOCK = 64 << 20


class SnapshotError(Exception):
    """A snapshot file is missing, corrupt, truncated, foreign or of an unsupported version."""


def _crc(arr: npt.NDArray[Any]) -> int:
    """CRC32 of an array's bytes, in blocks so memory-mapped arrays are not pulled in twice."""
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    crc = 0
    for start in range(0, flat.shape[0], _CRC_BLOCK):
        crc = zlib.crc32(flat[start : start + _CRC_BLOCK].data, crc)
    return crc


def _align(x: int) -> int:
    return (x + _ALIGN - 1) // _ALIGN * _ALIGN


def write_snapshot(path: Path | str, kind: str, meta: Mapping[str, Any],
                   arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    path = Path(path)
    specs: list[dict[str, Any]] = []
    contiguous: list[npt.NDArray[Any]] = []
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.byteorder == ">":
            raise ValueError(f"array {name!r}: big-endian arrays are not stored")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        contiguous.append(a)
        specs.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "nbytes": int(a.nbytes),
                      "crc32": _crc(a)})
    # Offsets depend on the header length, which depends on the offsets' digits: iterate to a fixpoint.
    header_len = 0
    for _ in range(8):
        pos = _align(_PREFIX.size + header_len)
        for spec in specs:
            spec["offset"] = pos
            pos = _align(pos + spec["nbytes"])
        body: dict[str, Any] = {"kind": kind, "meta": dict(meta), "file_size": pos, "arrays": specs}
        header = json.dumps(body, sort_keys=True).encode()
        if len(header) == header_len:
            break
        header_len = len(header)
    else:  # pragma: no cover - the header length converges in two rounds
        raise RuntimeError("snapshot header did not converge")
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header), zlib.crc32(header), 0)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(prefix)
            f.write(header)
            for spec, a in zip(specs, contiguous, strict=True):
                f.write(b"\0" * (spec["offset"] - f.tell()))
                f.write(a.reshape(-1).view(np.uint8).data)
            f.write(b"\0" * (body["file_size"] - f.tell()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def read_snapshot(path: Path | str, kind: str, *, mmap: bool = False,
                  verify: bool = True) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """Return ``(meta, arrays)``; raise :class:`SnapshotError` on anything unexpected.

    ``mmap=True`` maps arrays read-only instead of copying them: fast start, and one copy in the page
    cache for every process of the host (how server processes load index snapshots). The kernel maps
    large files of ext4/xfs/tmpfs with 2 MiB pages as it does numpy's private copies, so random reads
    cost the same either way. A mapped file must never be changed in place; :func:`write_snapshot`
    only ever renames a new file over the name. ``verify=False`` skips the array checksums.
    """
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, also on every error path
    except OSError as e:
        raise SnapshotError(f"cannot open snapshot {path}: {e}") from e
    with f:
        file_size = os.fstat(f.fileno()).st_size
        raw = f.read(_PREFIX.size)
        if len(raw) < _PREFIX.size:
            raise SnapshotError(f"{path}: truncated snapshot header")
        magic, version, header_len, header_crc, _ = _PREFIX.unpack(raw)
        if magic != MAGIC:
            raise SnapshotError(f"{path}: not a Seawall snapshot (bad magic)")
        if version != FORMAT_VERSION:
            raise SnapshotError(
                f"{path}: snapshot format {version} is not supported (expected {FORMAT_VERSION})"
            )
        if header_len > file_size - _PREFIX.size:
            raise SnapshotError(f"{path}: truncated snapshot header")
        header = f.read(header_len)
        if len(header) != header_len or zlib.crc32(header) != header_crc:
            raise SnapshotError(f"{path}: snapshot header checksum mismatch")
        try:
            body = json.loads(header)
            if body["kind"] != kind:
                raise SnapshotError(f"{path}: snapshot holds {body['kind']!r}, expected {kind!r}")
            if body["file_size"] != file_size:
                raise SnapshotError(f"{path}: snapshot size {file_size} != recorded {body['file_size']} "
                                    "(truncated or appended)")
            specs = body["arrays"]
            meta = body["meta"]
        except (ValueError, KeyError, TypeError) as e:
            raise SnapshotError(f"{path}: malformed snapshot header: {e}") from e

        arrays: dict[str, npt.NDArray[Any]] = {}
        for spec in specs:
            try:
                name = str(spec["name"])
                dtype = np.dtype(spec["dtype"])
                shape = tuple(int(x) for x in spec["shape"])
                offset = int(spec["offset"])
                nbytes = int(spec["nbytes"])
                crc = int(spec["crc32"])
            except (ValueError, KeyError, TypeError) as e:
                raise SnapshotError(f"{path}: malformed array entry: {e}") from e
            if spec["dtype"] not in _ALLOWED_DTYPES:
                raise SnapshotError(f"{path}: array {name!r} has unsupported dtype {spec['dtype']!r}")
            if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
                raise SnapshotError(f"{path}: array {name!r} shape does not match its size")
            if offset < _PREFIX.size + header_len or offset + nbytes > file_size:
                raise SnapshotError(f"{path}: array {name!r} lies outside the file")
            if mmap and nbytes:
                arr: npt.NDArray[Any] = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
            else:
                arr = np.empty(shape, dtype=dtype)
                if nbytes:
                    f.seek(offset)
                    got = f.readinto(arr.reshape(-1).view(np.uint8).data)
                    if got != nbytes:
                        raise SnapshotError(f"{path}: array {name!r} is truncated")
            if verify and _crc(arr) != crc:
                raise SnapshotError(f"{path}: array {name!r} checksum mismatch (corrupt snapshot)")
            arrays[name] = arr
    return meta, arrays
