"""Shielded renditions of case media, made on the server: the browser never receives the original
until a reviewer reveals it.

A CSS blur protects nobody who opens the image in a new tab, so the console's media URL serves only a
rendition: images downscaled, blurred and greyscaled; videos as a strip of keyframes treated the same
way (a reviewer sees what kind of video it is without watching it). The strength follows the
reviewer's shield preference (``blur``, ``heavy``, or ``grey`` with an admin's consent). Anything
that cannot be decoded safely becomes a plain grey placeholder, never the original.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

#: Longest side of a shielded image; detail is what the shield removes, so there is no point in more.
MAX_SIDE = 480
#: Frames in a video's keyframe strip, and the height of each.
STRIP_FRAMES = 6
STRIP_HEIGHT = 160
MAX_PIXELS = 50_000_000
#: Blur radius (pixels at ``MAX_SIDE``) per shield strength.
BLUR = {"blur": 14.0, "heavy": 28.0, "grey": 0.0}


def _finish(img: Image.Image, strength: str) -> bytes:
    grey = img.convert("L")
    radius = BLUR.get(strength, BLUR["blur"])
    if radius:
        grey = grey.filter(ImageFilter.GaussianBlur(radius))
    if strength == "heavy":
        grey = ImageEnhance.Brightness(grey).enhance(0.5)
    buf = io.BytesIO()
    grey.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def placeholder(text: str = "media hidden") -> bytes:
    """A grey card, for media that cannot be rendered safely: never fall back to the original."""
    img = Image.new("L", (MAX_SIDE, MAX_SIDE * 9 // 16), 128)
    ImageDraw.Draw(img).text((16, 16), text, fill=230)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def _image(data: bytes, strength: str) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        if img.width * img.height > MAX_PIXELS:
            return placeholder("image too large to preview")
        img.draft("RGB", (MAX_SIDE * 2, MAX_SIDE * 2))
        small = img.convert("RGB")
        small.thumbnail((MAX_SIDE, MAX_SIDE))
        return _finish(small, strength)


def _video_strip(data: bytes, strength: str) -> bytes:
    from seawall.media.video import VideoLimits, probe_video, sample_frames

    info = probe_video(data, VideoLimits(max_seconds=3 * 3600))
    every = max(0.5, (info.duration or 10.0) / STRIP_FRAMES)
    frames = []
    for frame in sample_frames(data, every, max_side=STRIP_HEIGHT * 2):
        frames.append(Image.fromarray(frame.pixels))
        if len(frames) >= STRIP_FRAMES:
            break
    if not frames:
        return placeholder("video without frames")
    tiles = [f.resize((max(1, f.width * STRIP_HEIGHT // max(1, f.height)), STRIP_HEIGHT)) for f in frames]
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), STRIP_HEIGHT), (255, 255, 255))
    x = 0
    for t in tiles:
        strip.paste(t, (x, 0))
        x += t.width + 4
    return _finish(strip, strength)


@lru_cache(maxsize=16)
def _render(data: bytes, media_type: str, strength: str) -> bytes:
    try:
        if media_type.startswith("image/"):
            return _image(data, strength)
        if media_type.startswith("video/"):
            return _video_strip(data, strength)
    except Exception:  # any decoding failure shows the placeholder, never the original
        return placeholder("media could not be previewed")
    return placeholder("no preview for this type")


def shielded(data: bytes, media_type: str, strength: str = "blur") -> tuple[str, bytes]:
    """``("image/jpeg", bytes)``: the shielded rendition of image or video bytes."""
    return "image/jpeg", _render(data, media_type, strength)
