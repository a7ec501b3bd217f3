"""Do rotated/flipped re-uploads of a banked image match? The reference's derived dihedral hashes against
hashing the transformed pixels, and what each way of computing the eight query hashes costs.

Why: a query must match every rotation/flip of a banked picture. The reference's ``compute_dihedral``
derives seven hashes from one DCT, which assumes its 64×64 sampling grid is mirror-symmetric; at many
common sides it is not (see ``seawall.signals.pdq.signal.mirror_shift``). This prints, per image size:

1. how far each derived variant is from ``pdqhash.compute`` of the actually transformed pixels;
2. end to end: bank ``pdq_from_pixels(original)``, upload each of the 8 transforms, best distance among
   the upload's query hashes (raw pixels, and JPEG q90 decoded by Seawall with draft mode);
3. cost in ms of each way of computing the query hashes, and decode + hash of a JPEG.

"old" is ``pdqhash.compute_dihedral`` alone, "seawall" is ``pdq_dihedral_from_pixels`` (1, 2 or 4
reference calls), "8× pixels" is ``pdqhash.compute`` on each transformed copy.

    .venv/bin/python benchmarks/bench_dihedral.py [--quick]

All images are generated (1/f noise fields with shapes and grain, and smooth multi-scale blends);
nothing real is read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import encode_jpeg, machine_summary, markdown_table, percentile, synthetic_image, time_per_call
from seawall.media.content import Content
from seawall.media.image import decode_image
from seawall.signals.pdq.signal import (
    DIHEDRAL_NAMES,
    MAX_MIRROR_SHIFT,
    PdqSignal,
    bits_to_hex,
    mirror_shift,
    pdq_dihedral_from_pixels,
    pdq_from_pixels,
)

U8 = npt.NDArray[np.uint8]
THRESHOLD = 31

#: The meaning of each name in numpy terms, written independently of seawall's own table.
TRANSFORMS: dict[str, Callable[[U8], U8]] = {
    "original": lambda x: x,
    "rotate90": lambda x: np.rot90(x, 1),
    "rotate180": lambda x: np.rot90(x, 2),
    "rotate270": lambda x: np.rot90(x, 3),
    "flip_x": lambda x: x[::-1],
    "flip_y": lambda x: x[:, ::-1],
    "flip_plus1": lambda x: x.transpose(1, 0, 2),
    "flip_minus1": lambda x: np.rot90(x, 2).transpose(1, 0, 2),
}

#: (height, width). Includes the sides where the reference's grid is far from mirror-symmetric (128–255,
#: 384–511, 512, 768, 1024) and ones where it is exactly symmetric (257–383 except 384, 1080).
SIZES: list[tuple[int, int]] = [
    (64, 64), (128, 128), (129, 129), (200, 300), (255, 255), (256, 256), (300, 300), (384, 384),
    (480, 640), (500, 500), (512, 512), (750, 1000), (1000, 1000), (768, 1024), (1080, 1920),
    (1500, 2000), (2000, 2000), (3000, 4000),
]
QUICK_SIZES: list[tuple[int, int]] = [(129, 129), (200, 300), (256, 256), (750, 1000), (1000, 1000)]


def smooth_image(seed: int, width: int, height: int) -> U8:
    """Few, soft features (bicubic blend of coarse random grids): the kind of picture on which a
    half-pixel shift of the sampling grid moves the most bits."""
    rng = np.random.default_rng(seed)
    img: Image.Image | None = None
    amp, total = 1.0, 0.0
    for cells in (4, 12, 40, 130):
        grid = rng.integers(0, 256, (max(2, cells * height // max(height, width)), cells, 3), dtype=np.uint8)
        layer = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
        total += amp
        img = layer if img is None else Image.blend(img, layer, amp / total)
        amp *= 0.55
    assert img is not None
    return np.asarray(img)


GENERATORS: dict[str, Callable[[int, int, int], U8]] = {"pink": synthetic_image, "smooth": smooth_image}


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def old_dihedral(pixels: U8) -> list[str]:
    return [bits_to_hex(b) for b in pdqhash.compute_dihedral(pixels)[0]]


def new_dihedral(pixels: U8) -> list[str]:
    return pdq_dihedral_from_pixels(pixels)[0]


def pixel_dihedral(pixels: U8) -> list[str]:
    return [pdq_from_pixels(np.ascontiguousarray(TRANSFORMS[n](pixels)))[0] for n in DIHEDRAL_NAMES]


def images_for(h: int, w: int, seeds: int) -> list[tuple[str, U8]]:
    return [(g, gen(1000 * s + h + 7 * w, w, h)) for s in range(seeds) for g, gen in GENERATORS.items()]


def seeds_for(h: int, w: int, quick: bool) -> int:
    if quick:
        return 1
    return 3 if h * w <= 1_100_000 else 1


def shift_label(h: int, w: int) -> str:
    def one(side: int) -> str:
        s = mirror_shift(side)
        return f"{s:.2f}" + ("*" if s > MAX_MIRROR_SHIFT else "")
    return f"{one(h)} / {one(w)}"


def variant_error_table(sizes: list[tuple[int, int]], quick: bool) -> str:
    """Max over images and over the 7 variants of |variant − hash of the transformed pixels|."""
    rows: list[list[object]] = []
    for h, w in sizes:
        for label, decode in (("raw", False), ("jpeg", True)):
            worst_old = worst_new = 0
            shape = (h, w)
            for _, img in images_for(h, w, seeds_for(h, w, quick)):
                px = decode_image(encode_jpeg(img)) if decode else img
                shape = px.shape[:2]
                truth = pixel_dihedral(px)
                old, new = old_dihedral(px), new_dihedral(px)
                worst_old = max(worst_old, *(hamming(a, b) for a, b in zip(old, truth, strict=True)))
                worst_new = max(worst_new, *(hamming(a, b) for a, b in zip(new, truth, strict=True)))
            rows.append([f"{h}×{w}", label, f"{shape[0]}×{shape[1]}", shift_label(*shape), worst_old, worst_new])
    return markdown_table(
        ["image", "input", "hashed pixels", "mirror shift rows / cols (cells, * = re-hashed)",
         "old: max bits off", "seawall: max bits off"], rows)


def end_to_end_table(sizes: list[tuple[int, int]], quick: bool) -> str:
    """Bank the original, upload each of the 8 transforms, best distance through the query hashes."""
    rows: list[list[object]] = []
    sig = PdqSignal()
    for h, w in sizes:
        for label in ("raw", "jpeg"):
            worst_old = worst_new = 0
            miss_old = miss_new = total = 0
            for _, img in images_for(h, w, seeds_for(h, w, quick)):
                if label == "raw":
                    banked = pdq_from_pixels(img)[0]
                else:
                    banked = pdq_from_pixels(decode_image(encode_jpeg(img)))[0]
                for name in DIHEDRAL_NAMES:
                    upload = np.ascontiguousarray(TRANSFORMS[name](img))
                    px = upload if label == "raw" else decode_image(encode_jpeg(upload))
                    best_old = min(hamming(banked, v) for v in old_dihedral(px))
                    (q,) = sig.compute(Content("image", _pixels=px), for_query=True)
                    best_new = min(hamming(banked, v) for v in [q.value, *q.variants])
                    worst_old, worst_new = max(worst_old, best_old), max(worst_new, best_new)
                    miss_old += best_old > THRESHOLD
                    miss_new += best_new > THRESHOLD
                    total += 1
            rows.append([f"{h}×{w}", label, total, worst_old, miss_old, worst_new, miss_new])
    return markdown_table(
        ["image", "upload", "uploads (8 transforms × images)", "old: worst best-distance", "old: misses > 31",
         "seawall: worst best-distance", "seawall: misses > 31"], rows)


def ms(samples: list[float]) -> str:
    return f"{percentile(samples, 50) * 1e3:.2f}"


def cost_table(sizes: list[tuple[int, int]], quick: bool) -> str:
    """Median ms for the eight query hashes of raw pixels, and decode + query hashes of a JPEG."""
    rows: list[list[object]] = []
    sig = PdqSignal()
    for h, w in sizes:
        img = synthetic_image(h + w, w, h)
        jpeg = encode_jpeg(img)
        repeat = 3 if quick else (15 if h * w <= 1_100_000 else 3)
        decoded = decode_image(jpeg)

        def query_old(data: bytes) -> object:
            return old_dihedral(decode_image(data))

        def query_new(data: bytes) -> object:
            return sig.compute(Content("image", data=data), for_query=True)

        rows.append([
            f"{h}×{w}",
            ms(time_per_call(partial(pdqhash.compute, img), repeat=repeat, warmup=1)),
            ms(time_per_call(partial(old_dihedral, img), repeat=repeat, warmup=1)),
            ms(time_per_call(partial(new_dihedral, img), repeat=repeat, warmup=1)),
            ms(time_per_call(partial(pixel_dihedral, img), repeat=max(1, repeat // 3), warmup=1)),
            f"{decoded.shape[0]}×{decoded.shape[1]}",
            ms(time_per_call(partial(decode_image, jpeg), repeat=repeat, warmup=1)),
            ms(time_per_call(partial(query_old, jpeg), repeat=repeat, warmup=1)),
            ms(time_per_call(partial(query_new, jpeg), repeat=repeat, warmup=1)),
        ])
    return markdown_table(
        ["image", "raw: compute (1 hash)", "raw: old (compute_dihedral)", "raw: seawall", "raw: 8× pixels",
         "JPEG decoded to", "JPEG: decode only", "JPEG: decode + old", "JPEG: decode + seawall (PdqSignal)"],
        rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and images (smoke run)")
    args = ap.parse_args()
    sizes = QUICK_SIZES if args.quick else SIZES
    print(f"# PDQ dihedral variants\n\n{machine_summary()}\n")
    print(f"Mirror shift threshold: {MAX_MIRROR_SHIFT} cells; match threshold {THRESHOLD}.\n")
    print("## 1. Each variant against pdqhash.compute of the transformed pixels\n")
    print(variant_error_table(sizes, args.quick), "\n", flush=True)
    print("## 2. End to end: banked original, each of the 8 transforms uploaded\n")
    print(end_to_end_table(sizes, args.quick), "\n", flush=True)
    print("## 3. Cost (median ms)\n")
    print(cost_table(sizes, args.quick), flush=True)


if __name__ == "__main__":
    main()
