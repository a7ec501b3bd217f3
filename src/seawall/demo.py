"""Demo data made entirely of generated images: Seawall never ships real extremist material.

``seed`` builds a block bank from synthetic "poster" images and an allow bank from a synthetic "news
photo", and writes copies to try: the original, a re-encoded copy, a rotated copy, the news photo and
an unrelated image.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from seawall.engine import Engine
from seawall.errors import Conflict

BLOCK_BANK = "demo-block"
ALLOW_BANK = "demo-allow"


def synthetic_poster(seed: int, size: tuple[int, int] = (960, 720)) -> Image.Image:
    """A deterministic, textured image with shapes and a caption; varied enough for a high PDQ quality."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, size=(h // 24 + 1, w // 24 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w - 50)), int(rng.integers(0, h - 50))
        x1, y1 = x0 + int(rng.integers(40, w // 2)), y0 + int(rng.integers(40, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    draw.rectangle((0, h - 90, w, h), fill=(10, 10, 10))
    draw.text((30, h - 70), f"SEAWALL DEMO IMAGE #{seed} - SYNTHETIC, NOT REAL CONTENT", fill=(240, 240, 240))
    return img.filter(ImageFilter.SMOOTH)


def jpeg_bytes(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def seed(engine: Engine, out_dir: Path, *, count: int = 5) -> str:
    """Create the demo banks (idempotent) and write sample uploads into ``out_dir``."""
    for name, kind, desc, labels in (
        (BLOCK_BANK, "block", "Generated stand-ins for known terrorist images", ["behaviour:official-propaganda",
                                                                                 "group:demo"]),
        (ALLOW_BANK, "allow", "Generated stand-ins for news photos that must never be removed", []),
    ):
        with contextlib.suppress(Conflict):
            engine.banks.create(name, description=desc, kind=kind, labels=labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        data = jpeg_bytes(synthetic_poster(i))
        engine.add_entries_from_content(BLOCK_BANK, engine.content("image", data), labels=[], note="generated",
                                        source="seawall-demo", added_by="demo")
        if i == 1:
            (out_dir / "known.jpg").write_bytes(data)
            poster = synthetic_poster(i)
            (out_dir / "known-reencoded.jpg").write_bytes(
                jpeg_bytes(poster.resize((640, 480), Image.Resampling.LANCZOS), quality=55))
            (out_dir / "known-rotated.jpg").write_bytes(jpeg_bytes(poster.rotate(90, expand=True)))
    news = jpeg_bytes(synthetic_poster(1000))
    engine.add_entries_from_content(ALLOW_BANK, engine.content("image", news), labels=[], note="generated",
                                    source="seawall-demo", added_by="demo")
    (out_dir / "news.jpg").write_bytes(news)
    (out_dir / "unrelated.jpg").write_bytes(jpeg_bytes(synthetic_poster(424242)))
    return (f"demo banks {BLOCK_BANK} ({count} generated images) and {ALLOW_BANK} ready; "
            f"sample uploads in {out_dir}: known.jpg, known-reencoded.jpg, known-rotated.jpg (block), "
            "unrelated.jpg (allow), news.jpg (allow bank)")
