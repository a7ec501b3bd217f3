"""Where the time of one upload goes, stage by stage: cProfile over Engine.submit on SQLite.

Why: before moving work out of the request, see which steps cost what (decoding, hashing, OCR, the
match, the rules, the write). Prints the top cumulative entries per kind of upload: an image without
text, an image with a caption, and a text item.

    PYTHONPATH=src .venv/bin/python benchmarks/profile_upload.py [--n 20]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import encode_jpeg, synthetic_image
from seawall.composition import build_engine
from seawall.config import Settings


def captioned(seed: int) -> bytes:
    """A 1 MP photo with three lines of caption text, as a meme or screenshot would carry."""
    img = Image.fromarray(synthetic_image(seed))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=48)
    for i, line in enumerate(["join the weekly meeting", "at the old harbour market", "bring your friends"]):
        draw.rectangle((30, 760 + i * 70, 1000, 820 + i * 70), fill=(255, 255, 255))
        draw.text((40, 765 + i * 70), line, fill=(0, 0, 0), font=font)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(Settings(data_dir=Path(tmp)))
        try:
            kinds = {
                "image without text": lambda i: engine.content("image", data=encode_jpeg(synthetic_image(1000 + i))),
                "image with caption": lambda i: engine.content("image", data=captioned(2000 + i)),
                "text item": lambda i: engine.content("text", text=f"post number {i} about the weekly meeting "
                                                                     "at the old harbour market, bring friends"),
            }
            # first call of each kind outside the profile: it is the warm-up measured separately
            for kind, make in kinds.items():
                t0 = time.perf_counter()
                engine.submit(make(-1), content_id=f"warm-{kind}")
                print(f"first {kind}: {(time.perf_counter() - t0) * 1000:.1f} ms")
            for kind, make in kinds.items():
                contents = [make(i) for i in range(args.n)]
                prof = cProfile.Profile()
                t0 = time.perf_counter()
                prof.enable()
                for i, c in enumerate(contents):
                    engine.submit(c, content_id=f"{kind}-{i}", account_id=f"acct-{i % 5}")
                prof.disable()
                per = (time.perf_counter() - t0) * 1000 / args.n
                print(f"\n=== {kind}: {per:.1f} ms per upload (n={args.n}) ===")
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(args.top)
                print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
        finally:
            engine.close()


if __name__ == "__main__":
    main()
