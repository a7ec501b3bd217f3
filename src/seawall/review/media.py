"""The bytes of the upload being decided, handed to the actions that open cases.

Items do not keep their bytes, and the action interface only sees the stored item, so the shell that
holds the upload (``Engine.submit``, the background stage) publishes it here for the duration of the
decision; the ``queue``/``escalate`` actions copy it into the case they open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[bytes | None] = ContextVar("seawall_upload_bytes", default=None)


@contextmanager
def holding(data: bytes | None) -> Iterator[None]:
    """Make ``data`` the current upload while the block runs (ingest, decide, act)."""
    token = _current.set(data)
    try:
        yield
    finally:
        _current.reset(token)


def current_upload() -> bytes | None:
    return _current.get()


def sniff_media_type(data: bytes, content_type: str) -> str:
    """A browser-safe MIME type from magic bytes; anything unrecognised is served as an opaque download."""
    if content_type == "text":
        return "text/plain; charset=utf-8"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return "application/octet-stream"


def publish(data: bytes) -> bytes:
    """Make ``data`` the current upload of this worker thread without a scope, and pass it through.

    The background stage decodes an upload and then decides and acts on it in the same call on the
    same thread, with no hook around both; the value stays until that thread's next upload replaces it.
    """
    _current.set(data)
    return data
