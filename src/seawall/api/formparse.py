"""A multipart body of the plain shape every HTTP client sends, split in one pass over the received bytes.

Why: Starlette's parser (over python-multipart) copies a file part several times on its way to the
route — joined chunks, a slice per callback, a spooled file, the read — and for a 1 MB upload that was
about 2 ms of the event loop's CPU, against a fraction of that for finding the boundaries with
``bytes.find`` and slicing the file out once.

What it takes: only bodies of the canonical shape (``Content-Type: multipart/form-data; boundary=B`` with a
plain token boundary and no other parameter; no preamble; each part with a ``Content-Disposition:
form-data; name="…"[; filename="…"]`` header of plain ASCII and at most a ``Content-Type`` header; the
closing delimiter and one CRLF at the end), within the same part, field and file limits. Anything else —
a quoted or odd boundary, a charset, other headers, escapes, a part over the limits, a delimiter followed
by anything but CRLF or ``--`` — is declined (None), and the caller parses it with Starlette as before,
so every error and every unusual body is still answered by the documented parser. What it returns is the
``FormData`` Starlette builds for the same body (``tests/test_formparse.py`` compares the two).
"""

from __future__ import annotations

import io
import re

from starlette.datastructures import FormData, Headers, UploadFile

_BOUNDARY = re.compile(rb"[A-Za-z0-9'()+_,./:=?-]{1,70}")
#: ``form-data; name="…"`` with an optional ``; filename="…"``: plain ASCII, no quote, backslash or semicolon.
_DISPOSITION = re.compile(rb'form-data; name="([\x20-\x21\x23-\x3a\x3c-\x5b\x5d-\x7e]*)"'
                          rb'(?:; filename="([\x20-\x21\x23-\x3a\x3c-\x5b\x5d-\x7e]*)")?')
_CTYPE_VALUE = re.compile(rb"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_PREFIX = b"multipart/form-data; boundary="


class _InMemory(io.BytesIO):
    """A file part's bytes. ``UploadFile`` reads a file on the event loop when it says it has not rolled to
    disk (as Starlette's spooled file under its size does), and in a worker thread otherwise."""

    _rolled = False


def boundary_of(content_type: bytes) -> bytes | None:
    """The boundary of a plain ``multipart/form-data; boundary=B`` content type, else None."""
    if not content_type.startswith(_PREFIX):
        return None
    boundary = content_type[len(_PREFIX):]
    return boundary if _BOUNDARY.fullmatch(boundary) else None


def simple_form(content_type: bytes, body: bytes, *, max_files: int, max_fields: int,
                max_part_size: int) -> FormData | None:
    """The form Starlette's parser makes of ``body``, or None when the body is not of the plain shape (see
    the module docstring) or is over a limit; the caller then parses it the documented way."""
    boundary = boundary_of(content_type)
    if boundary is None:
        return None
    first = b"--" + boundary + b"\r\n"
    delimiter = b"\r\n--" + boundary
    if not body.startswith(first):
        return None
    items: list[tuple[str, str | UploadFile]] = []
    files = fields = 0
    pos = len(first)
    while True:
        head_end = body.find(b"\r\n\r\n", pos)
        end = body.find(delimiter, pos)
        if head_end < 0 or end < 0 or head_end > end:
            return None
        part = _part(body[pos:head_end], body, head_end + 4, end)
        if part is None:
            return None
        name, value = part
        if isinstance(value, UploadFile):
            files += 1
            if files > max_files:
                return None
        else:
            fields += 1
            if fields > max_fields or end - head_end - 4 > max_part_size:
                return None
        items.append((name, value))
        after = end + len(delimiter)
        tail = body[after:after + 2]
        if tail == b"\r\n":
            pos = after + 2
            continue
        if tail == b"--" and len(body) == after + 4 and body.endswith(b"\r\n"):
            return FormData(items)
        return None


def _part(head: bytes, body: bytes, start: int, end: int) -> tuple[str, str | UploadFile] | None:
    """One part's name and value (a field's text or a file), or None if its headers are not plain."""
    disposition = ctype = None
    raw_headers: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        field, sep, value = line.partition(b": ")
        lower = field.lower()
        if not sep or not value or value[:1] in b" \t" or value[-1:] in b" \t":
            return None
        if lower == b"content-disposition" and disposition is None:
            disposition = _DISPOSITION.fullmatch(value)
            if disposition is None:
                return None
        elif lower == b"content-type" and ctype is None:
            if not _CTYPE_VALUE.fullmatch(value):
                return None
            ctype = value
        else:
            return None
        raw_headers.append((lower, value))
    if disposition is None:
        return None
    name = disposition.group(1).decode("ascii")
    filename = disposition.group(2)
    if filename is None:
        data = body[start:end]
        try:
            return name, data.decode("utf-8")
        except UnicodeDecodeError:
            return name, data.decode("latin-1")  # as Starlette decodes a field that is not UTF-8
    data = body[start:end]
    return name, UploadFile(file=_InMemory(data), size=len(data), filename=filename.decode("ascii"),
                            headers=Headers(raw=raw_headers))
