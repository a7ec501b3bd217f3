"""Local features (ORB) and their geometric check: is one picture a transformed copy of another?

PDQ describes a whole picture; a watermark, meme lettering or a rotation moves enough of it that a
re-shared copy lands outside the match radius. Local features see the parts that did not change.
ORB (OpenCV, Apache-2.0) finds corner points with binary descriptors; a match needs, after Lowe's ratio
test, a RANSAC homography that maps enough of them consistently (``inliers``), with a plausible scale.
Unrelated pictures rarely get more than a handful of consistent points.

Bounded work: pictures are shrunk to ``SIDE`` pixels a side, at most ``BANK_POINTS`` points are kept per
banked picture and ``QUERY_POINTS`` per upload, and OpenCV runs on one thread. OpenCV is imported on
first use (``opencv-python-headless``), so nothing pays for it until stage 2 needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

SIDE = 384
BANK_POINTS = 300
QUERY_POINTS = 500
RATIO = 0.8
#: Reprojection error in pixels at ``SIDE`` for a point to count as consistent.
REPROJECTION = 5.0
MIN_GOOD = 8
#: Pictures with a side shorter than this carry no points worth verifying (and OpenCV cannot scale them).
MIN_SIDE = 32


@cache
def _cv2() -> Any:
    import cv2

    cv2.setNumThreads(1)
    return cv2


def available() -> bool:
    """Whether OpenCV can be imported here (it is a declared dependency; a stale environment may lack it)."""
    try:
        _cv2()
    except ImportError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Features:
    """Point positions (n, 2) in ``SIDE``-scaled pixels and their 32-byte ORB descriptors (n, 32)."""

    points: npt.NDArray[np.float32]
    descriptors: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.points.shape[0])


def features(pixels: npt.NDArray[np.uint8], limit: int, exclude: npt.NDArray[np.bool_] | None = None) -> Features:
    """The ``limit`` strongest ORB points of an RGB picture shrunk to ``SIDE`` pixels a side.

    ``exclude``: where no point may be taken (any size; it is stretched over the picture), such as lettering
    painted over an upload, whose sharp outlined strokes would otherwise take most of the ``limit`` points
    and leave too few on the picture itself to verify it.
    """
    cv2 = _cv2()
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    if min(h, w) < MIN_SIDE:  # OpenCV's scale pyramid cannot shrink a picture this small (it raises)
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    scale = SIDE / max(h, w)
    if scale < 1:
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    orb = cv2.ORB_create(nfeatures=limit, fastThreshold=10, edgeThreshold=15, patchSize=15)
    mask = None
    if exclude is not None:
        allowed = np.where(exclude, 0, 255).astype(np.uint8)
        mask = cv2.resize(allowed, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_NEAREST)
    kps, desc = orb.detectAndCompute(grey, mask)
    if desc is None or not kps:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    pts = np.array([k.pt for k in kps], dtype=np.float32)
    return Features(pts[:limit], desc[:limit].astype(np.uint8))


def inliers(query: Features, banked: Features) -> int:
    """Points of ``query`` consistently mapped onto ``banked`` by one plausible homography (0 when none)."""
    if len(query) < MIN_GOOD or len(banked) < MIN_GOOD:
        return 0
    cv2 = _cv2()
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, banked.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_GOOD:
        return 0
    src = query.points[[m.queryIdx for m in good]].reshape(-1, 1, 2)
    dst = banked.points[[m.trainIdx for m in good]].reshape(-1, 1, 2)
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, REPROJECTION, maxIters=500)
    if homography is None or mask is None:
        return 0
    det = float(np.linalg.det(homography[:2, :2]))
    if not 0.05 < det < 20:  # a copy is scaled, turned or cropped, never folded or collapsed
        return 0
    return int(mask.sum())
