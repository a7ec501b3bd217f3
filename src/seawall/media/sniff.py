"""A browser-safe MIME type for stored bytes, read from their magic numbers, never from the client's word.

Kept uploads (item content, review case media) are served back to reviewers with this type.
"""

from __future__ import annotations


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
