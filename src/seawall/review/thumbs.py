"""Small JPEG thumbnails of reviewed media, kept beside the bank entries a decision created.

A later reviewer compares a new upload with the bank entry it matched; a 256-pixel thumbnail is
enough to see that two pictures are the same and keeps the store small. Only still images get one:
anything Pillow cannot open safely is skipped, never an error.
"""

from __future__ import annotations

import io

from PIL import Image

SIZE = 256
MAX_PIXELS = 50_000_000


def thumbnail(data: bytes, media_type: str) -> tuple[str, bytes] | None:
    """``("image/jpeg", bytes)`` for a still image, else None."""
    if not media_type.startswith("image/") or not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                return None
            img.draft("RGB", (SIZE * 2, SIZE * 2))
            small = img.convert("RGB")
            small.thumbnail((SIZE, SIZE))
            buf = io.BytesIO()
            small.save(buf, "JPEG", quality=80)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "image/jpeg", buf.getvalue()
