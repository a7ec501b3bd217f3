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
from PIL import Image, ImageFilter

from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.pdq.signal import pdq_from_pixels

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

#: Side of the reduced copy every guess is looked for in (and most are made from). PDQ itself works on a
#: 64×64 reduction, so a 256 px copy costs about a bit of hash distance and makes a reference call ~0.8 ms
#: instead of ~40 ms at 1024 px.
WORK_SIDE = 256
#: Side every guess is reduced to before hashing: measured on the sample photographs, a 128 px copy is
#: within 15 bits (mean) of the full picture's hash, closer than 96, 160 or 256 px copies, and 4× cheaper
#: to hash than 256.
HASH_SIDE = 128
#: Region guesses are cut from a copy of the upload this wide at most (4x the working copy: a picture at a
#: quarter of a screen's width keeps ~256 px, twice what its hash is computed from).
CROP_SOURCE_SIDE = 1024
#: Hashes below this quality are not trustworthy (near-uniform crops) and are dropped.
MIN_QUALITY = 50
#: Rotations tried either way when the corners show no fill to read the angle from (PDQ itself
#: tolerates about ±1.5°, and a 128 px hash a little more).
ANGLES: tuple[float, ...] = (3.0, 6.0, 9.0)
#: A region must keep at least this share of each side of the upload.
MIN_SIDE_SHARE = 0.3
#: Most rectangles tried per upload.
MAX_RECTANGLES = 6
#: How a rectangle side on the upload's border ranks against a side seen as a step edge along all its length.
FRAME_SIDE_SCORE = 0.8
#: Least share of any one side of an inset picture seen as a brightness step.
INSET_MIN_SIDE = 0.35
#: Edge-lost guesses: how much of the original is assumed missing (share of that dimension).
UNCROP_SHARES: tuple[float, ...] = (0.08,)


@dataclass(frozen=True, slots=True)
class RegionHash:
    """One guess: how it was made (for the verdict's reasons; at most 20 characters, the stored match's
    ``variant``), its hash and quality."""

    name: str
    value: str
    quality: int


def _reduce(pixels: U8, side: int = WORK_SIDE) -> U8:
    h, w = pixels.shape[:2]
    if max(h, w) <= side:
        return pixels
    scale = side / max(h, w)
    im = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return np.asarray(im.resize(size, Image.Resampling.BILINEAR))


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


def _smooth_border(g: F32, ratio: float = 0.5, run_ratio: float = 0.33) -> tuple[int, int, int, int]:
    """Like :func:`_uniform_border` but peeling rows/columns with little fine detail (second differences):
    blurred fills (a picture over a blurred, enlarged copy of itself) and gradients, not only one colour.
    Measured against the detail of the middle half of the upload.

    A side is peeled up to the first row (column) with at least ``ratio`` of the middle's detail, and only
    when the peeled run averages under ``run_ratio`` of it: a blurred fill keeps JPEG noise and, around a
    generated picture with little detail of its own, a fifth to a quarter of the picture's detail, so a
    fixed low threshold misses it while a step to half the middle's detail still finds its edge.
    """
    lap = np.zeros_like(g)
    lap[1:-1, 1:-1] = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])

    def span(e: F32) -> tuple[int, int]:
        n = len(e)
        ref = float(np.median(e[n // 4: 3 * n // 4])) + 1e-3
        sm = np.convolve(e, np.ones(5) / 5, mode="same")
        low = sm < ratio * ref
        a = 1
        while a < n // 2 and low[a]:
            a += 1
        b = n - 1
        while b > n // 2 and low[b - 1]:
            b -= 1
        a = a if a > 2 and float(e[1:a].mean()) < run_ratio * ref else 0
        b = b if b < n - 2 and float(e[b:n - 1].mean()) < run_ratio * ref else n
        return a, b

    t, b = span(lap.mean(axis=1))
    left, r = span(lap.mean(axis=0))
    return t, b, left, r


def _symmetric(box: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int, int]:
    """The box with each axis's larger margin applied to both ends: letterboxes are centred, and one of
    the two edges of a fill is often found better than the other."""
    t, b, left, r = box
    dy, dx = max(t, h - b), max(left, w - r)
    return dy, h - dy, dx, w - dx


def _edge_maps(g: F32, step: float = 14.0, flat: float = 3.0) -> tuple[F32, F32]:
    """Where a row (column) boundary is a step edge with a flat side: the outline of a picture pasted on
    chrome, a frame or a letterbox. Entry [k, x] is about the boundary above row k (left of column k)."""

    def boundaries(p: F32) -> F32:
        # p is padded by 3 rows; boundary k sits between padded rows k+2 and k+3
        n = p.shape[0] - 6
        k = np.arange(n + 1) + 3
        s = np.abs(p[k + 1] - p[k - 2]) > step
        f_out = np.abs(p[k - 2] - p[k - 3]) < flat
        f_in = np.abs(p[k + 2] - p[k + 1]) < flat
        return (s & (f_out | f_in)).astype(np.float32)

    return boundaries(np.pad(g, ((3, 3), (0, 0)), mode="edge")), boundaries(np.pad(g.T, ((3, 3), (0, 0)), mode="edge"))


def _peaks(score: F32, k: int, min_score: float, gap: int) -> list[int]:
    order = np.argsort(score)[::-1]
    out: list[int] = []
    for i in order:
        if score[i] < min_score or len(out) >= k:
            break
        if all(abs(int(i) - j) > gap for j in out):
            out.append(int(i))
    return out


def _step_maps(g: F32, step: float = 12.0) -> tuple[F32, F32]:
    """Like :func:`_edge_maps` without asking for a flat side: the outline of a picture inset over another
    picture (picture-in-picture, usually over a dimmed or blurred copy of something), where neither side is
    flat but the brightness jumps all along the outline."""

    def boundaries(p: F32) -> F32:
        n = p.shape[0] - 6
        k = np.arange(n + 1) + 3
        return (np.abs(p[k + 1] - p[k - 2]) > step).astype(np.float32)

    return boundaries(np.pad(g, ((3, 3), (0, 0)), mode="edge")), boundaries(np.pad(g.T, ((3, 3), (0, 0)), mode="edge"))


def _rectangles(g: F32, maps: tuple[F32, F32] | None = None, *, min_side: float = 0.45, min_peak: float = 0.12,
                frame_sides: bool = True, limit: int = MAX_RECTANGLES, min_total: float = 0.0,
                frame_score: float = FRAME_SIDE_SCORE) -> list[tuple[int, int, int, int]]:
    """The best few axis-aligned rectangles outlined by step edges (screenshots, insets, frames).

    ``maps``: the row and column boundary maps (default :func:`_edge_maps`); each side of a rectangle must
    be an edge along ``min_side`` of its length and the four together along ``min_total``; with
    ``frame_sides`` a side on the upload's own border counts as an edge (a picture filling the screen's
    width), without it every side must be seen. A border side ranks as ``frame_score`` of a seen edge: a
    picture whose four sides are seen outranks the rectangles that reach from one of its sides to the
    upload's border."""
    h, w = g.shape
    H, V = maps if maps is not None else _edge_maps(g)
    ch = np.concatenate([np.zeros((h + 1, 1), np.float32), np.cumsum(H, axis=1)], axis=1)
    cv = np.concatenate([np.zeros((w + 1, 1), np.float32), np.cumsum(V, axis=1)], axis=1)
    rows = sorted(set(_peaks(H.mean(axis=1), 8, min_peak, 2)) | ({0, h} if frame_sides else set()))
    cols = sorted(set(_peaks(V.mean(axis=1), 8, min_peak, 2)) | ({0, w} if frame_sides else set()))

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
                    sides = (side(ch, t, left, r, t == 0 and frame_sides), side(ch, b, left, r, b == h and frame_sides),
                             side(cv, left, t, b, left == 0 and frame_sides), side(cv, r, t, b, r == w and frame_sides))
                    if min(sides) < min_side or sum(sides) < min_total:
                        continue
                    on_frame = (t == 0 and frame_sides, b == h and frame_sides, left == 0 and frame_sides,
                                r == w and frame_sides)
                    rank = sum(frame_score if f else v for v, f in zip(sides, on_frame, strict=True))
                    scored.append((rank + 0.5 * (b - t) * (r - left) / (h * w), (t, b, left, r)))
    scored.sort(reverse=True)
    return [box for _, box in scored[:limit]]


def _inset_rectangles(g: F32) -> list[tuple[int, int, int, int]]:
    """The best two rectangles whose four sides are brightness steps along most of their length, none on
    the upload's border: a picture inset over another picture. One side may be seen along as little as
    ``INSET_MIN_SIDE`` of it (a shape of the background crossing it) when the four average over 0.6."""
    return _rectangles(g, _step_maps(g), min_side=INSET_MIN_SIDE, min_total=2.4, min_peak=0.2, frame_sides=False,
                       limit=2)


def _dense_rectangles(a: U8, tol: int = 14) -> list[tuple[int, int, int, int]]:
    """Rectangles of pixels unlike the screen's background colour (the commonest colour of its outer
    ring): a picture on an app's page stands out as one dense block, while the page's text and icons are
    sparse. Candidate sides are where the row and column densities jump; the best rectangles are dense
    inside and sparse on the ring just outside."""
    h, w = a.shape[:2]
    ring = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]).astype(np.int16) // 8
    keys, counts = np.unique(ring[:, 0] * 1024 + ring[:, 1] * 32 + ring[:, 2], return_counts=True)
    k = int(keys[np.argmax(counts)])
    bg = np.array([(k // 1024) * 8 + 4, (k // 32 % 32) * 8 + 4, (k % 32) * 8 + 4], dtype=np.int16)
    mask = (np.abs(a.astype(np.int16) - bg).max(axis=-1) > tol).astype(np.float32)
    if mask.mean() > 0.97 or mask.mean() < 0.1:
        return []
    integral = np.zeros((h + 1, w + 1), dtype=np.float64)
    integral[1:, 1:] = mask.cumsum(0).cumsum(1)

    def total(t: int, b: int, left: int, r: int) -> float:
        return float(integral[b, r] - integral[t, r] - integral[b, left] + integral[t, left])

    def cuts(profile: npt.NDArray[np.float32], n: int) -> list[int]:
        sm = np.convolve(profile, np.ones(3) / 3, mode="same")
        jump = np.abs(np.diff(sm, prepend=sm[0]))
        return sorted(set(_peaks(jump.astype(np.float32), 8, 0.08, 2)) | {0, n})

    rows, cols = cuts(mask.mean(axis=1), h), cuts(mask.mean(axis=0), w)
    scored: list[tuple[float, tuple[int, int, int, int]]] = []
    for ti, t in enumerate(rows):
        for b in rows[ti + 1:]:
            if b - t < MIN_SIDE_SHARE * h:
                continue
            for li, left in enumerate(cols):
                for r in cols[li + 1:]:
                    if r - left < MIN_SIDE_SHARE * w or (t, b, left, r) == (0, h, 0, w):
                        continue
                    area = (b - t) * (r - left)
                    inside = total(t, b, left, r) / area
                    if inside < 0.85:
                        continue
                    t2, b2, l2, r2 = max(0, t - 3), min(h, b + 3), max(0, left - 3), min(w, r + 3)
                    ring_area = (b2 - t2) * (r2 - l2) - area
                    outside = (total(t2, b2, l2, r2) - total(t, b, left, r)) / ring_area if ring_area else 0.0
                    scored.append((inside - outside + 0.3 * area / (h * w), (t, b, left, r)))
    scored.sort(reverse=True)
    return [box for _, box in scored[:MAX_RECTANGLES] if _ > 0.5]


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


def _fill_angle(a: U8, tol: int = 30) -> float | None:
    """The angle a picture was turned by, read from the fill triangles a turn leaves in the corners.

    A turned picture on an upright canvas leaves a right triangle of fill colour in each corner whose
    legs along the two edges are in the ratio tan(angle). The median over the corners with a triangle is
    taken; None when no corner has one (then only the fixed angles are tried).
    """
    af = a.astype(np.int16)
    angles: list[float] = []
    for rows, cols in ((slice(None), slice(None)), (slice(None), slice(None, None, -1)),
                       (slice(None, None, -1), slice(None)), (slice(None, None, -1), slice(None, None, -1))):
        c = af[rows, cols]
        corner = c[0, 0]
        along_top = np.abs(c[0] - corner).max(axis=-1) > tol
        along_side = np.abs(c[:, 0] - corner).max(axis=-1) > tol
        x = int(np.argmax(along_top)) if along_top.any() else 0
        y = int(np.argmax(along_side)) if along_side.any() else 0
        if x >= 3 and y >= 3:
            angles.append(float(np.degrees(np.arctan(min(x, y) / max(x, y)))))
    if not angles:
        return None
    angle = float(np.median(angles))
    return angle if 1.0 <= angle <= 15.0 else None


def _inpaint(a: U8, weight: F32) -> U8:
    """Pixels of low ``weight`` (0–1) replaced by a wide weighted blur of the others: enough for PDQ,
    which keeps only the lowest frequencies, to see the lost corners as their surroundings."""
    radius = max(4, max(a.shape[:2]) // 12)
    w_img = Image.fromarray((weight * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    num = Image.fromarray((a * weight[..., None]).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    wb = np.asarray(w_img, dtype=np.float32)[..., None] / 255 + 1e-3
    filled = np.clip(np.asarray(num, dtype=np.float32) / wb, 0, 255)
    keep = weight[..., None] > 0.99
    return np.where(keep, a, filled).astype(np.uint8)


def _grow(mask: U8) -> U8:
    """A 0/1 mask grown by two pixels every way (the maximum over a 5×5 window, what PIL's
    ``MaxFilter(5)`` gives, edges included): one OpenCV dilation instead of PIL's rank filter, which
    sorts every window; three of them were 14 of the 18 ms this lettering search took on a 256 px copy."""
    import cv2

    grown = cv2.dilate(np.ascontiguousarray(mask), _GROW_KERNEL, borderType=cv2.BORDER_REPLICATE)
    return grown.astype(np.uint8, copy=False)


_GROW_KERNEL = np.ones((5, 5), np.uint8)


def _overlaid_text(a: U8) -> F32 | None:
    """Where meme-style lettering is (white letters with a dark outline, or the reverse), as 0/1 weights;
    None when there is none or too much to be lettering."""
    lo, hi = a.min(axis=-1), a.max(axis=-1)
    near_white = _grow((lo > 225).view(np.uint8))
    near_black = _grow((hi < 40).view(np.uint8))
    grown: F32 = _grow(near_white & near_black).astype(np.float32)
    share = float(grown.mean())
    return grown if 0.01 <= share <= 0.3 else None


def lettering_mask(pixels: U8) -> npt.NDArray[np.bool_] | None:
    """Where meme-style lettering is painted over ``pixels``, on a reduced copy (None when there is none):
    local features (:mod:`seawall.signals.orb`) are not taken there. An upload's is :func:`upload_lettering`."""
    return _mask(_overlaid_text(_reduce(np.ascontiguousarray(pixels))))


def upload_lettering(content: Content) -> npt.NDArray[np.bool_] | None:
    """:func:`lettering_mask` of an upload, searched once: the ORB query takes the one its region hashes
    found (kept in ``content.lettering`` by :func:`region_signals`), and keeps one it had to search for."""
    if content.lettering is None:
        content.lettering = (_overlaid_text(_reduce(np.ascontiguousarray(content.pixels()))),)
    return _mask(content.lettering[0])


def _mask(text: F32 | None) -> npt.NDArray[np.bool_] | None:
    return None if text is None else text > 0


def _rotations(a: U8) -> list[tuple[str, U8]]:
    """The upload turned back by the angle its corner fill shows and by each of :data:`ANGLES` either
    way, then stripped of the fill the turns left."""
    im = Image.fromarray(np.ascontiguousarray(a), "RGB")
    corner = tuple(int(v) for v in np.median(np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]), axis=0))
    found = _fill_angle(a)
    angles = [round(found, 1)] if found is not None else list(ANGLES)
    out: list[tuple[str, U8]] = []
    if found is not None:  # a turn that kept the canvas lost the corners: fill them from their neighbours
        fill = np.array(corner, dtype=np.int16)
        valid = Image.fromarray(((np.abs(a.astype(np.int16) - fill).max(axis=-1) > 30) * 255).astype(np.uint8))
        for sign in (1, -1):
            back = im.rotate(sign * found, resample=Image.Resampling.BICUBIC, fillcolor=corner)
            mask: F32 = (np.asarray(valid.rotate(sign * found, resample=Image.Resampling.BILINEAR), dtype=np.float32)
                         / np.float32(255))
            out.append((f"turned {sign * found:+.1f}° filled", _inpaint(np.asarray(back), mask)))
    for deg in angles:
        for sign in (1, -1):
            turned = np.asarray(im.rotate(sign * deg, resample=Image.Resampling.BICUBIC, fillcolor=corner))
            t, b, left, r = _uniform_border(turned)
            cut = turned[t:b, left:r] if (b - t) * (r - left) > 0.3 * a.shape[0] * a.shape[1] else turned
            out.append((f"turned {sign * deg:+g}°", np.ascontiguousarray(cut)))
    return out


@dataclass(frozen=True, slots=True)
class RegionSearch:
    """What :func:`region_search` found: the region hashes, and the lettering it painted over (if any)."""

    hashes: list[RegionHash]
    #: :func:`_overlaid_text` of the reduced upload: 0/1 weights, None when there is no lettering.
    lettering: F32 | None


def region_hashes(pixels: U8) -> list[RegionHash]:
    """Hashes of where the original picture probably sits in an upload (see :func:`region_search`)."""
    return region_search(pixels).hashes


def region_search(pixels: U8) -> RegionSearch:
    """Hashes of where the original picture probably sits in an upload, each named after its guess, and
    the lettering found on the way (the ORB query masks it out, so it is returned rather than searched twice).

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

    # boxes are cut from a copy at most CROP_SOURCE_SIDE wide: the smallest box (MIN_SIDE_SHARE of it)
    # still has more than the HASH_SIDE pixels its hash is computed from, and a 49 MP upload is not
    # copied and reduced once per guess
    source = _reduce(pixels, CROP_SOURCE_SIDE)
    ky, kx = source.shape[0] / h, source.shape[1] / w

    def add_box(name: str, box: tuple[int, int, int, int]) -> None:
        t, b, left, r = box
        if box in seen or b - t < MIN_SIDE_SHARE * h or r - left < MIN_SIDE_SHARE * w:
            return
        seen.add(box)
        # cut from the upload itself, not the reduced copy: a picture at half a screen's width is only
        # ~128 px wide in the copy, and its hash from there is 10–20 bits further from the original's
        guesses.append((name, source[round(t * ky):round(b * ky), round(left * kx):round(r * kx)]))

    add_box("uniform border cut", _uniform_border(a))
    # fine detail is what a blurred fill lacks: look for it at twice the working resolution
    fine = _grey(_reduce(source, 2 * WORK_SIDE))
    k = fine.shape[0] / h
    smooth = tuple(round(v / k) for v in _smooth_border(fine))
    assert len(smooth) == 4
    add_box("smooth border cut", smooth)
    add_box("smooth cut centred", _symmetric(smooth, h, w))
    for box in [*_rectangles(g), *_dense_rectangles(a), *_inset_rectangles(g)]:
        name = "inner rectangle"
        add_box(name, box)
        t, b, left, r = box  # a step edge is found to a pixel or two: also try the box inset by two
        add_box("inner rectangle inset", (t + 2 * (t > 0), b - 2 * (b < h), left + 2 * (left > 0), r - 2 * (r < w)))
    top, bottom = _text_band(a)
    for n, band in ((top, slice(0, top)), (bottom, slice(h - bottom, h))):
        if n >= 0.04 * h:
            where = "top" if band.start == 0 else "bottom"
            weight = np.ones((h, w), dtype=np.float32)
            weight[band] = 0
            guesses.append((f"{where} band painted", _inpaint(a, weight)))
            add_box(f"{where} band cut", (n, h, 0, w) if where == "top" else (0, h - n, 0, w))
    small = a
    text = _overlaid_text(small)
    if text is not None:
        guesses.append(("lettering painted", _inpaint(small, 1 - text)))
        rows = np.flatnonzero(text.mean(axis=1) > 0.02)
        sh = small.shape[0]
        upper, lower = rows[rows < 0.4 * sh], rows[rows > 0.6 * sh]
        k = h / sh
        cut = (round((int(upper.max()) + 1) * k) if upper.size else 0, round(int(lower.min()) * k) if lower.size else h,
               0, w)
        add_box("lettering cut", cut)
    guesses.extend(_rotations(a))
    for share in UNCROP_SHARES:
        for side in ("top", "bottom", "left", "right"):
            guesses.append((f"{side} edge {share:.0%} added", _reflect_fill(a, side, share)))
        both = _reflect_fill(_reflect_fill(a, "top", share / 2), "bottom", share / 2)
        guesses.append((f"all edges {share:.0%} added",
                        _reflect_fill(_reflect_fill(both, "left", share / 2), "right", share / 2)))
    out: list[RegionHash] = []
    for name, region in guesses:
        value, quality = pdq_from_pixels(_reduce(np.ascontiguousarray(region), HASH_SIDE))
        if quality >= MIN_QUALITY:
            out.append(RegionHash(name[:20], value, quality))
    return RegionSearch(out, text)


def region_signals(content: Content) -> list[ComputedSignal]:
    """The slow, queued part of an image's PDQ matching, as query signals for one batch lookup each.

    ``pdq``: every region guess, as variants of one signal, with names saying which guess each is.
    ``pdq_crop``: the whole upload and the same guesses, against the crops banked with each picture
    (:mod:`seawall.signals.pdq_crop`), for copies that were cropped as well as framed.
    """
    if content.content_type != "image":
        return []
    pixels = content.pixels()
    search = region_search(pixels)
    content.lettering = (search.lettering,)  # for the ORB query of this upload (upload_lettering)
    regions = search.hashes
    whole, whole_quality = pdq_from_pixels(_reduce(np.ascontiguousarray(pixels), HASH_SIDE))
    if whole_quality >= MIN_QUALITY:
        regions.insert(0, RegionHash("whole upload", whole, whole_quality))
    if not regions:
        return []
    values = [r.value for r in regions]
    names = [r.name for r in regions]
    quality = min(r.quality for r in regions)
    out = [ComputedSignal("pdq_crop", values[0], quality, values[1:], names=names)]
    if len(regions) > 1:  # the whole upload is already in the in-request pdq lookup
        out.insert(0, ComputedSignal("pdq", values[1], quality, values[2:], names=names[1:]))
    return out
