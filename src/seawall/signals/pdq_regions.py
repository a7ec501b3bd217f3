"""Extra PDQ query hashes for re-uploads that plain PDQ misses: padded, letterboxed, screenshotted,
slightly rotated, bannered or cropped copies of a banked picture.

PDQ hashes the whole frame, so anything that moves the picture inside the frame (a border, an app's
chrome around it, a few degrees of rotation, a band of text over one edge) moves 40–120 of its 256 bits and
a copy falls outside the match distance. Banks shared between platforms hold only the hash of the
original, so the work must be done on the query side: guess where the original sits in the upload, cut it
out (or undo the rotation, or fill in the lost edge), and hash each guess. Every guess is one more chance
of a false match, so only a bounded, structured set of guesses is made, and each is looked up at the bank's
ordinary PDQ distance.

This is slower than the in-request hashes (tens of reference PDQ calls on a reduced copy), so it runs
with OCR, in the queued stage of the upload path: :func:`region_signals` is the one entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from seawall.domain.models import ComputedSignal
from seawall.media.content import Content
from seawall.signals.pdq import pdq_from_pixels

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

#: Side of the reduced copy every guess is cut from. PDQ itself works on a 64×64 reduction, so a 256 px
#: copy costs about a bit of hash distance and makes a reference call ~0.8 ms instead of ~40 ms at 1024 px.
WORK_SIDE = 256
#: Hashes below this quality are not trustworthy (near-uniform crops) and are dropped.
MIN_QUALITY = 50
#: Rotations tried, in degrees either way. PDQ itself tolerates about ±1.5°.
ANGLES: tuple[float, ...] = (2.5, 5.0, 7.5, 10.0)
#: A region must keep at least this share of each side of the upload.
MIN_SIDE_SHARE = 0.3
#: Most rectangles tried per upload.
MAX_RECTANGLES = 6
#: Edge-lost guesses: how much of the original is assumed missing (share of that dimension).
UNCROP_SHARES: tuple[float, ...] = (0.06, 0.12)


@dataclass(frozen=True, slots=True)
class RegionHash:
    """One guess: how it was made (for the verdict's reasons), its hash and quality."""

    name: str
    value: str
    quality: int


def _reduce(pixels: U8, side: int = WORK_SIDE) -> U8:
    h, w = pixels.shape[:2]
    if max(h, w) <= side:
        return pixels
    scale = side / max(h, w)
    im = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    return np.asarray(im.resize((max(8, round(w * scale)), max(8, round(h * scale))), Image.Resampling.BOX))


def _grey(a: U8) -> F32:
    return (a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114).astype(np.float32)


def _uniform_border(a: U8, tol: float = 24.0, share: float = 0.97) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of what is left once rows/columns of one colour are peeled off each side.

    A row counts as border when ``share`` of its pixels are within ``tol`` of the colour at that edge, so a
    JPEG-smudged letterbox or frame in any colour goes, and a picture's own flat sky (rarely one exact
    colour edge to edge) mostly stays.
    """
    h, w = a.shape[:2]
    af = a.astype(np.int16)

    def peel(lines: npt.NDArray[np.int16], limit: int) -> int:
        ref = np.median(lines[0], axis=0)
        n = 0
        while n < limit:
            near = np.abs(lines[n] - ref).max(axis=-1) <= tol
            if near.mean() < share:
                break
            n += 1
        return n

    top = peel(af, h // 2)
    bottom = h - peel(af[::-1], h // 2 - 1)
    left = peel(af.transpose(1, 0, 2), w // 2)
    right = w - peel(af.transpose(1, 0, 2)[::-1], w // 2 - 1)
    return top, max(bottom, top + 1), left, max(right, left + 1)


def _smooth_border(g: F32, ratio: float = 0.25) -> tuple[int, int, int, int]:
    """Like :func:`_uniform_border` but peeling rows/columns with little detail: blurred fills (a picture
    over a blurred copy of itself) and gradients, not only one colour."""
    dx = np.abs(np.diff(g, axis=1))
    dy = np.abs(np.diff(g, axis=0))
    row_e = dx.mean(axis=1)
    row_e[:-1] += dy.mean(axis=1)
    col_e = dy.mean(axis=0)
    col_e[:-1] += dx.mean(axis=0)

    def span(e: F32) -> tuple[int, int]:
        n = len(e)
        ref = float(np.median(e[n // 4: 3 * n // 4])) + 1e-3
        low = np.convolve(e, np.ones(3) / 3, mode="same") < ratio * ref
        a = 0
        while a < n // 2 and low[a]:
            a += 1
        b = n
        while b > n // 2 and low[b - 1]:
            b -= 1
        return a, b

    t, b = span(row_e)
    left, r = span(col_e)
    return t, b, left, r


def _edge_maps(g: F32, step: float = 14.0, flat: float = 3.0) -> tuple[F32, F32]:
    """Where a row (column) boundary is a step edge with a flat side: the outline of a picture pasted on
    chrome, a frame or a letterbox. Entry [k, x] is about the boundary above row k (left of column k)."""
    h, w = g.shape
    p = np.pad(g, 3, mode="edge")
    H = np.zeros((h + 1, w), dtype=np.float32)
    V = np.zeros((w + 1, h), dtype=np.float32)
    for k in range(h + 1):
        y = k + 3  # padded index of row k
        s = np.abs(p[y + 1, 3:-3] - p[y - 2, 3:-3]) > step
        f_out = np.abs(p[y - 2, 3:-3] - p[y - 3, 3:-3]) < flat
        f_in = np.abs(p[y + 2, 3:-3] - p[y + 1, 3:-3]) < flat
        H[k] = s & (f_out | f_in)
    for k in range(w + 1):
        x = k + 3
        s = np.abs(p[3:-3, x + 1] - p[3:-3, x - 2]) > step
        f_out = np.abs(p[3:-3, x - 2] - p[3:-3, x - 3]) < flat
        f_in = np.abs(p[3:-3, x + 2] - p[3:-3, x + 1]) < flat
        V[k] = s & (f_out | f_in)
    return H, V


def _peaks(score: F32, k: int, min_score: float, gap: int) -> list[int]:
    order = np.argsort(score)[::-1]
    out: list[int] = []
    for i in order:
        if score[i] < min_score or len(out) >= k:
            break
        if all(abs(int(i) - j) > gap for j in out):
            out.append(int(i))
    return out


def _rectangles(g: F32) -> list[tuple[int, int, int, int]]:
    """The best few axis-aligned rectangles outlined by step edges (screenshots, insets, frames)."""
    h, w = g.shape
    H, V = _edge_maps(g)
    ch = np.concatenate([np.zeros((h + 1, 1), np.float32), np.cumsum(H, axis=1)], axis=1)
    cv = np.concatenate([np.zeros((w + 1, 1), np.float32), np.cumsum(V, axis=1)], axis=1)
    rows = sorted(set(_peaks(H.mean(axis=1), 8, 0.12, 2)) | {0, h})
    cols = sorted(set(_peaks(V.mean(axis=1), 8, 0.12, 2)) | {0, w})

    def side(c: F32, k: int, a: int, b: int, frame_edge: bool) -> float:
        return 1.0 if frame_edge else float(c[k, b] - c[k, a]) / max(1, b - a)

    scored: list[tuple[float, tuple[int, int, int, int]]] = []
    for ti, t in enumerate(rows):
        for b in rows[ti + 1:]:
            if b - t < MIN_SIDE_SHARE * h:
                continue
            for li, left in enumerate(cols):
                for r in cols[li + 1:]:
                    if r - left < MIN_SIDE_SHARE * w or (t, b, left, r) == (0, h, 0, w):
                        continue
                    sides = (side(ch, t, left, r, t == 0), side(ch, b, left, r, b == h),
                             side(cv, left, t, b, left == 0), side(cv, r, t, b, r == w))
                    if min(sides) < 0.45:
                        continue
                    scored.append((sum(sides) + 0.5 * (b - t) * (r - left) / (h * w), (t, b, left, r)))
    scored.sort(reverse=True)
    return [box for _, box in scored[:MAX_RECTANGLES]]


def _reflect_fill(a: U8, side: str, share: float) -> U8:
    """The upload with a strip of ``share`` of that dimension added on ``side`` as a mirror of what is next
    to it: the lost edge of a crop, or the rows under a banner, guessed from their neighbours. PDQ keeps
    only low frequencies, so a mirrored strip is far closer to the lost content than nothing."""
    h, w = a.shape[:2]
    if side in ("top", "bottom"):
        n = max(1, min(h - 1, round(h * share / (1 - share))))
        strip = a[:n][::-1] if side == "top" else a[h - n:][::-1]
        return np.concatenate([strip, a] if side == "top" else [a, strip], axis=0)
    n = max(1, min(w - 1, round(w * share / (1 - share))))
    strip = a[:, :n][:, ::-1] if side == "left" else a[:, w - n:][:, ::-1]
    return np.concatenate([strip, a] if side == "left" else [a, strip], axis=1)


def _text_band(a: U8, tol: float = 28.0, share: float = 0.55) -> tuple[int, int]:
    """Rows at the top and at the bottom that are mostly one colour (a banner or caption with text on it)."""
    af = a.astype(np.int16)
    h = a.shape[0]

    def run(lines: npt.NDArray[np.int16]) -> int:
        n = 0
        while n < h * 0.35:
            row = lines[n]
            ref = np.median(row, axis=0)
            if (np.abs(row - ref).max(axis=-1) <= tol).mean() < share:
                break
            n += 1
        return n

    return run(af), run(af[::-1])


def _rotations(a: U8) -> list[tuple[str, U8]]:
    """The upload turned back by each of :data:`ANGLES` either way, then stripped of the fill the turn left."""
    im = Image.fromarray(np.ascontiguousarray(a), "RGB")
    corner = tuple(int(v) for v in np.median(np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]), axis=0))
    out: list[tuple[str, U8]] = []
    for deg in ANGLES:
        for sign in (1, -1):
            turned = np.asarray(im.rotate(sign * deg, resample=Image.Resampling.BILINEAR, fillcolor=corner))
            t, b, left, r = _uniform_border(turned)
            cut = turned[t:b, left:r] if (b - t) * (r - left) > 0.3 * a.shape[0] * a.shape[1] else turned
            out.append((f"rotated {sign * deg:+g}°", np.ascontiguousarray(cut)))
    return out


def region_hashes(pixels: U8) -> list[RegionHash]:
    """Hashes of where the original picture probably sits in an upload, each named after its guess.

    Guesses: the upload without uniform or blurred borders; the best rectangles outlined by step edges
    (a picture inside an app's chrome or over another picture); without a text band at the top or bottom,
    that band filled from its neighbours; turned back by a few degrees; and with a mirrored strip added on
    each side (a crop's lost edge). Duplicate regions are hashed once.
    """
    a = _reduce(pixels)
    h, w = a.shape[:2]
    g = _grey(a)
    guesses: list[tuple[str, U8]] = []
    seen: set[tuple[int, int, int, int]] = {(0, h, 0, w)}

    def add_box(name: str, box: tuple[int, int, int, int]) -> None:
        t, b, left, r = box
        if box in seen or b - t < MIN_SIDE_SHARE * h or r - left < MIN_SIDE_SHARE * w:
            return
        seen.add(box)
        guesses.append((name, a[t:b, left:r]))

    add_box("without uniform border", _uniform_border(a))
    add_box("without smooth border", _smooth_border(g))
    for box in _rectangles(g):
        add_box(f"inner rectangle {box[2]},{box[0]}-{box[3]},{box[1]} of {w}x{h}", box)
    top, bottom = _text_band(a)
    if top >= 0.04 * h:
        guesses.append(("top band filled", _reflect_fill(a[top:], "top", top / h)))
    if bottom >= 0.04 * h:
        guesses.append(("bottom band filled", _reflect_fill(a[: h - bottom], "bottom", bottom / h)))
    guesses.extend(_rotations(a))
    for share in UNCROP_SHARES:
        for side in ("top", "bottom", "left", "right"):
            guesses.append((f"{side} edge restored ({share:.0%})", _reflect_fill(a, side, share)))
        both = _reflect_fill(_reflect_fill(a, "top", share / 2), "bottom", share / 2)
        guesses.append((f"all edges restored ({share:.0%})",
                        _reflect_fill(_reflect_fill(both, "left", share / 2), "right", share / 2)))
    out: list[RegionHash] = []
    for name, region in guesses:
        value, quality = pdq_from_pixels(np.ascontiguousarray(region))
        if quality >= MIN_QUALITY:
            out.append(RegionHash(name, value, quality))
    return out


def region_signals(content: Content) -> list[ComputedSignal]:
    """The slow, queued part of an image's PDQ matching: one ``pdq`` query signal carrying every region
    hash as a variant (looked up in one batch), with names saying which guess each one is."""
    if content.content_type != "image":
        return []
    regions = region_hashes(content.pixels())
    if not regions:
        return []
    return [ComputedSignal("pdq", regions[0].value, min(r.quality for r in regions),
                           [r.value for r in regions[1:]], names=[r.name for r in regions])]
