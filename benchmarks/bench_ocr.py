"""OCR time per image: Seawall's path against running the ``tesseract`` CLI directly, and the time cap.

Why: OCR is the slowest step an image upload can take, and it reads attacker-chosen pixels. This
measures, on generated images with text, how long Seawall's path takes per image (``read_text``:
greyscale, flat-image check, shrink to ``SEAWALL_OCR_MAX_SIDE``, Tesseract's ``tsv`` output with word
confidences on an uncompressed file, one OpenMP thread, confident words only) against the peer a
platform would write first: the ``tesseract`` command on the image file (PNG) with the same languages
and its default threads, printing plain text. Both read the same generated images in the same run; word
recall (share of the generated words found in the output) tells whether a speed difference is bought with lost text.

It then checks the cap: with ``--cap`` seconds as the OCR timeout, dense large images must come back
(with an "ocr timed out" note) after about the cap, never much later.

    .venv/bin/python benchmarks/bench_ocr.py [--images 12] [--cap 0.5]

Images (all generated, no real material): ``caption`` (1000×220, one line on white), ``meme``
(1280×720 photo-like noise with two outlined lines), ``screenshot`` (1600×1200, twelve lines of a post),
``poster`` (3000×2000, the screenshot's text at twice the size: Seawall shrinks it to 2000 px first).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_summary, markdown_table, synthetic_image
from seawall.media.ocr import OcrOptions, ocr_available, read_text

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_VOCABULARY = ("lantern orchard copper river meadow quiet harbour silver morning garden window pebble valley candle "
         "thunder willow basket ladder marble bridge market teacher story mountain neighbour weather harvest "
         "evening street light house village field letter school book north south winter summer")
WORDS = _VOCABULARY.split()


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _font(size: int) -> ImageFont.FreeTypeFont:
    if not Path(FONT).exists():
        raise SystemExit("no TTF font: apt-get install -y fonts-dejavu-core")
    return ImageFont.truetype(FONT, size)


def make_image(kind: str, seed: int) -> tuple[Image.Image, str]:
    """A generated image and the words written in it."""
    rng = random.Random(seed)
    if kind == "caption":
        text = words(rng, 6)
        img = Image.new("RGB", (1000, 220), "white")
        ImageDraw.Draw(img).text((30, 80), text, font=_font(44), fill="black")
        return img, text
    if kind == "meme":
        img = Image.fromarray(synthetic_image(seed, 1280, 720))
        draw = ImageDraw.Draw(img)
        top, bottom = words(rng, 4).upper(), words(rng, 4).upper()
        for y, line in ((40, top), (600, bottom)):
            draw.text((60, y), line, font=_font(64), fill="white", stroke_width=4, stroke_fill="black")
        return img, f"{top} {bottom}"
    scale = 2 if kind == "poster" else 1
    img = Image.new("RGB", (1600 * scale, 1200 * scale), "white")
    draw = ImageDraw.Draw(img)
    lines = [words(rng, 7) for _ in range(12)]
    for i, line in enumerate(lines):
        draw.text((60 * scale, (60 + 90 * i) * scale), line, font=_font(34 * scale), fill="black")
    return img, " ".join(lines)


def recall(expected: str, got: str | None) -> float:
    want = expected.lower().split()
    have = (got or "").lower().split()
    pool: dict[str, int] = {}
    for w in have:
        pool[w] = pool.get(w, 0) + 1
    hit = 0
    for w in want:
        if pool.get(w, 0):
            pool[w] -= 1
            hit += 1
    return hit / max(1, len(want))


def tesseract_cli(path: Path, langs: str) -> str:
    out = subprocess.run(["tesseract", str(path), "stdout", "-l", langs], capture_output=True, text=True,
                         check=True, timeout=120)
    return out.stdout


def timed(fn: Callable[[], str | None]) -> tuple[float, str | None]:
    t0 = time.perf_counter()
    text = fn()
    return time.perf_counter() - t0, text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=12, help="images per kind")
    ap.add_argument("--cap", type=float, default=0.5, help="OCR timeout (seconds) for the cap check")
    args = ap.parse_args()
    if not ocr_available():
        raise SystemExit("tesseract is not installed: apt-get install -y tesseract-ocr tesseract-ocr-eng "
                         "tesseract-ocr-ara")
    options = OcrOptions()
    print(machine_summary())
    print(f"{args.images} generated images per kind; languages {options.languages}; Seawall max side "
          f"{options.max_side} px, timeout {options.timeout_seconds:g} s\n")
    rows: list[list[object]] = []
    all_sw: list[float] = []
    all_cli: list[float] = []
    with tempfile.TemporaryDirectory(prefix="seawall-bench-ocr-") as tmp:
        for kind in ("caption", "meme", "screenshot", "poster"):
            sw_t, cli_t, sw_r, cli_r = [], [], [], []
            for i in range(args.images):
                img, truth = make_image(kind, 1000 * len(kind) + i)
                path = Path(tmp) / f"{kind}-{i}.png"
                img.save(path)
                pixels = np.asarray(img.convert("RGB"))
                if i == 0:  # warm both paths (file cache, language data)
                    read_text(pixels, options)
                    tesseract_cli(path, options.languages)
                t, text = timed(lambda: read_text(pixels, options).text)  # noqa: B023 (called at once)
                sw_t.append(t)
                sw_r.append(recall(truth, text))
                t, text = timed(lambda: tesseract_cli(path, options.languages))  # noqa: B023
                cli_t.append(t)
                cli_r.append(recall(truth, text))
            all_sw += sw_t
            all_cli += cli_t
            rows.append([kind, f"{np.percentile(sw_t, 50) * 1000:,.0f} / {np.percentile(sw_t, 99) * 1000:,.0f}",
                         f"{np.percentile(cli_t, 50) * 1000:,.0f} / {np.percentile(cli_t, 99) * 1000:,.0f}",
                         f"{np.median(cli_t) / np.median(sw_t):.2f}", f"{np.mean(sw_r):.1%}", f"{np.mean(cli_r):.1%}"])
        rows.append(["all", f"{np.percentile(all_sw, 50) * 1000:,.0f} / {np.percentile(all_sw, 99) * 1000:,.0f}",
                     f"{np.percentile(all_cli, 50) * 1000:,.0f} / {np.percentile(all_cli, 99) * 1000:,.0f}",
                     f"{np.median(all_cli) / np.median(all_sw):.2f}", "", ""])
        print(markdown_table(["image", "Seawall ms p50 / p99", "tesseract CLI ms p50 / p99",
                              "Seawall speed-up (p50)", "Seawall word recall", "CLI word recall"], rows))

        capped = OcrOptions(timeout_seconds=args.cap)
        took, timed_out = [], 0
        for i in range(args.images):
            img, _ = make_image("poster", 7000 + i)
            result = read_text(np.asarray(img.convert("RGB")), capped)
            took.append(result.seconds)
            timed_out += bool(result.note and result.note.startswith("ocr timed out"))
        print(f"\ncap {args.cap:g} s on {args.images} poster images: {timed_out} timed out, time taken p50 "
              f"{np.percentile(took, 50):.2f} s, max {max(took):.2f} s "
              f"({'respected' if max(took) <= args.cap + 0.25 else 'EXCEEDED'}: max ≤ cap + 0.25 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
