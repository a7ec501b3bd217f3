"""Generated re-upload transforms (crops, pads, rotations, screenshots, overlays, meme text) and images.

Shared by ``benchmarks/bench_robust.py`` and the tests of :mod:`seawall.signals.pdq_regions`. Every picture
is generated or comes from the sample images shipped inside scikit-image / scikit-learn; nothing is
downloaded and nothing real-world is used. Each transform takes an RGB array and a random generator, so a
run is reproducible from its seed.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont

U8 = npt.NDArray[np.uint8]
Transform = Callable[[U8, np.random.Generator], U8]

WORDS = ("news", "channel", "official", "share", "watch", "today", "breaking", "join", "update", "video",
         "live", "follow", "media", "post", "more", "daily")


def _img(a: U8) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(a), "RGB")


def _arr(im: Image.Image) -> U8:
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return (int(rng.integers(0, 256)), int(rng.integers(0, 256)), int(rng.integers(0, 256)))


def _phrase(rng: np.random.Generator, n: int) -> str:
    return " ".join(str(w) for w in rng.choice(WORDS, size=n))


# --- images --------------------------------------------------------------------------------------

def photo_like(seed: int, h: int = 480, w: int = 640) -> U8:
    """Colour detail at several scales, a few hard shapes and grain: photo-like for PDQ and JPEG."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((h, w, 3), dtype=np.float64)
    amp, total = 1.0, 0.0
    for cells in (3, 9, 27, 81):
        grid = rng.integers(0, 256, (max(2, cells * h // w), cells, 3), dtype=np.uint8)
        acc += amp * np.asarray(_img(grid).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)
        total += amp
        amp *= 0.6
    im = _img(np.clip(acc / total, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 12, w // 3)), y0 + int(rng.integers(h // 12, h // 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=_colour(rng))
    grain = rng.normal(0.0, 4.0, size=(h, w, 3))  # camera pictures have sensor grain; blurred fills do not
    return np.clip(np.asarray(im, dtype=np.float64) + grain, 0, 255).astype(np.uint8)


def sample_images() -> dict[str, U8]:
    """The natural sample photographs shipped inside scikit-image and scikit-learn (no download), as RGB."""
    out: dict[str, U8] = {}
    from skimage import data as sk

    for name in ("astronaut", "camera", "coffee", "chelsea", "rocket", "horse", "coins", "moon", "brick",
                 "grass", "gravel", "clock", "hubble_deep_field", "retina", "immunohistochemistry", "page",
                 "text", "cell", "microaneurysms", "logo", "colorwheel"):
        try:
            a = np.asarray(getattr(sk, name)())
        except Exception:  # an image that needs a download (pooch) is skipped, never fetched
            continue
        if a.dtype != np.uint8:
            a = (255 * (a.astype(np.float64) / max(1.0, float(a.max())))).astype(np.uint8)
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=-1)
        out[name] = np.ascontiguousarray(a[..., :3])
    try:
        a = np.asarray(sk.stereo_motorcycle()[0])
        out["motorcycle"] = np.ascontiguousarray(a[..., :3])
    except Exception:
        pass
    from sklearn.datasets import load_sample_images

    for i, a in enumerate(load_sample_images().images):
        out[f"sklearn{i}"] = np.ascontiguousarray(a)
    return out


# --- transforms ----------------------------------------------------------------------------------

def jpeg(a: U8, quality: int) -> U8:
    buf = io.BytesIO()
    _img(a).save(buf, "JPEG", quality=quality)
    return _arr(Image.open(io.BytesIO(buf.getvalue())))


def resize(a: U8, scale: float) -> U8:
    h, w = a.shape[:2]
    return _arr(_img(a).resize((max(8, round(w * scale)), max(8, round(h * scale))), Image.Resampling.BILINEAR))


def crop_centre(p: float) -> Transform:
    """Remove ``p`` of each dimension, half from each side."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        h, w = a.shape[:2]
        dy, dx = round(h * p / 2), round(w * p / 2)
        return a[dy:h - dy, dx:w - dx].copy()
    return f


def crop_side(p: float) -> Transform:
    """Remove ``p`` of the image from one random side."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        h, w = a.shape[:2]
        side = int(rng.integers(4))
        dy, dx = round(h * p), round(w * p)
        return [a[dy:], a[:h - dy], a[:, dx:], a[:, :w - dx]][side].copy()
    return f


def pad_colour(p: float) -> Transform:
    """Letterbox, pillarbox or frame in a random uniform colour, adding ``p`` of a dimension in all."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        h, w = a.shape[:2]
        kind = int(rng.integers(3))
        ph = round(h * p / 2) if kind in (0, 2) else 0
        pw = round(w * p / 2) if kind in (1, 2) else 0
        out = np.empty((h + 2 * ph, w + 2 * pw, 3), dtype=np.uint8)
        out[:] = np.array(_colour(rng) if rng.random() < 0.6 else ((0, 0, 0), (255, 255, 255))[int(rng.integers(2))],
                          dtype=np.uint8)
        out[ph:ph + h, pw:pw + w] = a
        return out
    return f


def pad_blur(p: float) -> Transform:
    """The picture over a blurred, enlarged copy of itself (the usual vertical-video letterbox)."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        h, w = a.shape[:2]
        vertical = rng.random() < 0.5
        H, W = (round(h * (1 + p)), w) if vertical else (h, round(w * (1 + p)))
        bg = _img(a).resize((W, H), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(max(4, W // 25)))
        bg.paste(_img(a), ((W - w) // 2, (H - h) // 2))
        return _arr(bg)
    return f


def rotate(deg: float) -> Transform:
    """A small rotation either way: half keep the canvas (corners filled, edges lost), half grow it."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        angle = deg if rng.random() < 0.5 else -deg
        expand = rng.random() < 0.5
        fill = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
        return _arr(_img(a).rotate(angle, resample=Image.Resampling.BICUBIC, expand=expand, fillcolor=fill))
    return f


def _chrome_bar(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: np.random.Generator,
                bg: tuple[int, int, int], fg: tuple[int, int, int], avatar: bool) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=bg)
    hgt = y1 - y0
    x = x0 + hgt // 4
    if avatar:
        draw.ellipse((x, y0 + hgt // 6, x + hgt * 2 // 3, y1 - hgt // 6), fill=_colour(rng))
        x += hgt
    draw.text((x, y0 + hgt // 4), _phrase(rng, 3), fill=fg, font=_font(hgt // 2))
    for k in range(3):
        cx = x1 - (k + 1) * hgt
        draw.rectangle((cx, y0 + hgt // 3, cx + hgt // 3, y1 - hgt // 3), fill=fg)


def screenshot(scale: float) -> Transform:
    """The picture inside a phone app's screen at ``scale`` of the screen width: status bar, header with
    avatar and name, caption, action bar, on a light or dark theme; a third are picture-in-picture (the
    picture as an inset over another, dimmed picture)."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        h, w = a.shape[:2]
        W = round(w / scale)
        iw, ih = w, h
        dark = rng.random() < 0.5
        bg = (18, 18, 18) if dark else (250, 250, 250)
        fg = (230, 230, 230) if dark else (20, 20, 20)
        bar = max(16, W // 14)
        if rng.random() < 0.33:  # picture-in-picture over another, dimmed picture
            H = max(round(h / scale), h + 2 * bar)
            back = (photo_like(int(rng.integers(1 << 30)), H, W).astype(np.float64) * 0.45).astype(np.uint8)
            canvas = _img(back)
            x, y = int(rng.integers(0, W - iw + 1)), int(rng.integers(0, H - ih + 1))
            canvas.paste(_img(a), (x, y))
            draw = ImageDraw.Draw(canvas)
            _chrome_bar(draw, (0, 0, W, bar), rng, bg, fg, avatar=False)
            return _arr(canvas)
        H = ih + 4 * bar + int(rng.integers(0, 3 * bar))
        canvas = Image.new("RGB", (W, H), bg)
        draw = ImageDraw.Draw(canvas)
        _chrome_bar(draw, (0, 0, W, bar * 2 // 3), rng, bg, fg, avatar=False)  # status bar
        _chrome_bar(draw, (0, bar * 2 // 3, W, bar * 2), rng, bg, fg, avatar=True)  # header
        x = (W - iw) // 2 if rng.random() < 0.7 else int(rng.integers(0, W - iw + 1))
        y = bar * 2 + int(rng.integers(0, max(1, H - ih - 4 * bar)))
        canvas.paste(_img(a), (x, y))
        draw.text((bar // 3, y + ih + bar // 6), _phrase(rng, 5), fill=fg, font=_font(bar // 2))
        _chrome_bar(draw, (0, H - bar, W, H), rng, bg, fg, avatar=False)  # action bar
        return _arr(canvas)
    return f


def banner(p: float) -> Transform:
    """A solid band with text over ``p`` of the picture, at the top or the bottom."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        im = _img(a)
        w, h = im.size
        bh = round(h * p)
        y0 = 0 if rng.random() < 0.5 else h - bh
        draw = ImageDraw.Draw(im)
        draw.rectangle((0, y0, w, y0 + bh), fill=_colour(rng))
        draw.text((w // 20, y0 + bh // 5), _phrase(rng, 3).upper(), fill=_colour(rng), font=_font(bh * 3 // 5))
        return _arr(im)
    return f


def caption(p: float) -> Transform:
    """A caption band added above or below the picture (the picture itself untouched), ``p`` of its height."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        h, w = a.shape[:2]
        bh = round(h * p)
        bgc = (255, 255, 255) if rng.random() < 0.5 else _colour(rng)
        canvas = Image.new("RGB", (w, h + bh), bgc)
        top = rng.random() < 0.5
        canvas.paste(_img(a), (0, bh if top else 0))
        draw = ImageDraw.Draw(canvas)
        y = 0 if top else h
        draw.text((w // 30, y + bh // 6), _phrase(rng, 4), fill=(0, 0, 0), font=_font(bh // 2))
        return _arr(canvas)
    return f


def watermark(p: float) -> Transform:
    """A semi-transparent logo block with text over ``p`` of the area, in a corner."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        im = _img(a).convert("RGBA")
        w, h = im.size
        side = round((p * w * h) ** 0.5)
        lw, lh = min(w, round(side * 1.6)), min(h, round(side / 1.6))
        layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        x = 0 if rng.random() < 0.5 else w - lw
        y = 0 if rng.random() < 0.5 else h - lh
        c = _colour(rng)
        draw.rounded_rectangle((x, y, x + lw, y + lh), radius=lh // 5, fill=(*c, 150))
        draw.text((x + lw // 10, y + lh // 4), _phrase(rng, 1).upper(), fill=(255, 255, 255, 220),
                  font=_font(lh // 2))
        return _arr(Image.alpha_composite(im, layer))
    return f


def meme(size: float) -> Transform:
    """White text with a black outline at the top and the bottom, letters ``size`` of the height."""
    def f(a: U8, rng: np.random.Generator) -> U8:
        im = _img(a)
        w, h = im.size
        draw = ImageDraw.Draw(im)
        font = _font(round(h * size))
        for y in (h // 30, h - round(h * size) - h // 20):
            draw.text((w // 25, y), _phrase(rng, 3).upper(), fill=(255, 255, 255), font=font,
                      stroke_width=max(1, round(h * size / 12)), stroke_fill=(0, 0, 0))
        return _arr(im)
    return f


def then_jpeg_resize(inner: Transform, quality: int = 50, scale: float = 0.6) -> Transform:
    def f(a: U8, rng: np.random.Generator) -> U8:
        return jpeg(resize(inner(a, rng), scale), quality)
    return f


#: Family → (strength label → transform). The benchmark reports recall per family and per strength.
FAMILIES: dict[str, dict[str, Transform]] = {
    "crop_centre": {f"{p:.0%}": crop_centre(p) for p in (0.02, 0.05, 0.10, 0.15)},
    "crop_side": {f"{p:.0%}": crop_side(p) for p in (0.02, 0.05, 0.10, 0.15)},
    "pad_colour": {f"{p:.0%}": pad_colour(p) for p in (0.05, 0.10, 0.25)},
    "pad_blur": {f"{p:.0%}": pad_blur(p) for p in (0.10, 0.25)},
    "rotate": {f"{d}deg": rotate(d) for d in (2, 4, 6, 10)},
    "screenshot": {f"{s:.0%}": screenshot(s) for s in (0.5, 0.7, 0.9)},
    "banner": {f"{p:.0%}": banner(p) for p in (0.10, 0.15, 0.25)},
    "caption": {f"{p:.0%}": caption(p) for p in (0.10, 0.25)},
    "watermark": {f"{p:.0%}": watermark(p) for p in (0.10, 0.25)},
    "meme_text": {f"{s:.0%}": meme(s) for s in (0.08, 0.12)},
    "combined_jpeg_resize": {
        "crop5": then_jpeg_resize(crop_side(0.05)), "pad10": then_jpeg_resize(pad_colour(0.10)),
        "rot4": then_jpeg_resize(rotate(4)), "shot70": then_jpeg_resize(screenshot(0.7)),
        "banner15": then_jpeg_resize(banner(0.15)),
    },
    "control_jpeg_resize": {"q30": lambda a, rng: jpeg(a, 30), "half": lambda a, rng: resize(a, 0.5)},
}


# --- distractors ---------------------------------------------------------------------------------

def distractor(rng: np.random.Generator, pool: list[U8], size: int = 256) -> U8:
    """A picture that is a copy of nothing banked: a new photo-like image, a random crop of under a third of a
    held-out sample image, a mosaic or a blend of such crops, or a screenshot of one. Kept small (``size``
    px a side at most) so that ten thousand stay cheap."""
    kind = int(rng.integers(5))
    h = int(rng.integers(size * 3 // 4, size + 1))
    w = int(rng.integers(size * 3 // 4, size + 1))

    def crop() -> U8:
        src = pool[int(rng.integers(len(pool)))]
        sh, sw = src.shape[:2]
        ch, cw = int(rng.integers(sh // 6, sh // 2)), int(rng.integers(sw // 6, sw // 2))
        y, x = int(rng.integers(0, sh - ch)), int(rng.integers(0, sw - cw))
        return _arr(_img(src[y:y + ch, x:x + cw]).resize((w, h), Image.Resampling.BILINEAR))

    if kind == 0:
        return photo_like(int(rng.integers(1 << 30)), h, w)
    if kind == 1:
        return crop()
    if kind == 2:
        out = crop()
        hy, hx = h // 2, w // 2
        for qy, qx in ((0, hx), (hy, 0), (hy, hx)):
            q = crop()
            out[qy:qy + hy, qx:qx + hx] = q[:hy, :hx]
        return out
    if kind == 3:
        t = float(rng.uniform(0.3, 0.7))
        return (t * crop().astype(np.float64) + (1 - t) * crop().astype(np.float64)).astype(np.uint8)
    return screenshot(float(rng.uniform(0.5, 0.9)))(crop(), rng)
