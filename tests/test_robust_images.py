"""Copies that plain PDQ misses, found through ``POST /v1/items``: padded, blurred-letterboxed, rotated,
screenshotted, bannered, captioned and cropped re-uploads of a picture banked as a file.

Each case is a generated picture (``tests/robust_media.py``) transformed the way re-uploads are; the test
checks first that plain PDQ really misses it (so the case tests something), then that the upload is
blocked through a region hash, and that an unrelated screenshot in the same chrome is not.
"""

from __future__ import annotations

import io

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from seawall.signals.pdq.signal import pdq_from_pixels
from seawall.signals.pdq_regions import region_hashes

from .conftest import auth
from .robust_media import FAMILIES, photo_like

#: (family, strength, seed of the transform's random choices). Recall per family is not 100 %
#: (``benchmarks/bench_robust.py`` measures it); these are cases each family's guess solves, so a
#: regression in any one of them shows.
CASES = [
    ("pad_colour", "25%", 0), ("pad_blur", "25%", 0), ("rotate", "6deg", 0), ("screenshot", "70%", 1),
    ("caption", "25%", 0), ("banner", "25%", 0), ("crop_side", "10%", 0), ("crop_centre", "15%", 0),
    ("combined_jpeg_resize", "pad10", 0),
]


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, "RGB").save(buf, "PNG")
    return buf.getvalue()


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_transformed_copies_are_found_through_region_hashes(client: TestClient, keys: dict[str, str],
                                                             banked: np.ndarray) -> None:
    original = pdq_from_pixels(banked)[0]
    for family, strength, seed in CASES:
        upload = FAMILIES[family][strength](banked, np.random.default_rng(seed))
        assert _distance(pdq_from_pixels(upload)[0], original) > 31, f"{family}: plain PDQ already finds it"
        r = client.post("/v1/items?wait=final&timeout_ms=60000", files={"file": ("u.png", _png(upload), "image/png")},
                        data={"content_id": f"{family}-{strength}"}, headers=auth(keys["submitter"]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["verdict"] == "block", (family, strength, body["reasons"])
        # the PDQ region match (a picture banked as a file may also be verified by its ORB points)
        match = next(m for m in body["matches"] if m["signal_type"] in ("pdq", "pdq_crop"))
        assert match["distance"] <= 31
        assert match["variant"] not in (None, "original"), (family, match)


def test_unrelated_screenshot_in_the_same_chrome_is_not_matched(client: TestClient, keys: dict[str, str],
                                                                banked: np.ndarray) -> None:
    other = FAMILIES["screenshot"]["70%"](photo_like(42, 420, 560), np.random.default_rng(0))
    assert region_hashes(other), "the region guesses ran and gave hashes to look up"
    r = client.post("/v1/items?wait=final&timeout_ms=60000", files={"file": ("u.png", _png(other), "image/png")},
                    data={"content_id": "other"}, headers=auth(keys["submitter"]))
    assert r.status_code == 200 and r.json()["verdict"] == "allow", r.text
    assert r.json()["final"] is True and not r.json()["pending"], "stage 2 (region hashes) ran before the answer"


def test_region_hashes_wait_for_stage_two(client: TestClient, keys: dict[str, str], banked: np.ndarray) -> None:
    """The in-request verdict does not pay for region hashes: they are a pending stage-2 task."""
    upload = FAMILIES["pad_colour"]["25%"](banked, np.random.default_rng(3))
    r = client.post("/v1/items?wait=stage1", files={"file": ("u.png", _png(upload), "image/png")},
                    data={"content_id": "stage-one"}, headers=auth(keys["submitter"]))
    assert r.status_code == 200, r.text
    assert "regions" in r.json()["pending"] and r.json()["final"] is False, r.json()


def test_a_picture_inset_over_another_picture_is_cut_out() -> None:
    """Picture-in-picture: no side of the inset is flat (the background is a dimmed photograph), only the
    brightness steps all along its outline show where it is."""
    picture = photo_like(43, 300, 400)
    canvas = (photo_like(44, 700, 800).astype(np.float64) * 0.45).astype(np.uint8)
    canvas[220:520, 250:650] = picture
    original = pdq_from_pixels(picture)[0]
    assert _distance(pdq_from_pixels(canvas)[0], original) > 31
    found = [(r.name, _distance(r.value, original)) for r in region_hashes(canvas)]
    assert min(d for name, d in found if name.startswith("inner rectangle")) <= 31, found


def test_a_wide_blurred_fill_around_a_generated_picture_is_cut_off() -> None:
    """A generated picture has little fine detail of its own, so its blurred fill keeps a fifth to a quarter
    of the picture's detail (JPEG noise, soft shapes): the fill is still found by the step in detail at its
    edge."""
    for seed in range(4):
        picture = photo_like(10_000 + seed, 420, 560)
        upload = FAMILIES["pad_blur"]["25%"](picture, np.random.default_rng(seed))
        buf = io.BytesIO()
        Image.fromarray(upload, "RGB").save(buf, "JPEG", quality=92)
        upload = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        original = pdq_from_pixels(picture)[0]
        found = [(r.name, _distance(r.value, original)) for r in region_hashes(upload)]
        assert min(d for name, d in found if name.startswith("smooth")) <= 31, (seed, found)


def test_a_picture_whose_dark_side_merges_with_dark_chrome_is_cut_out() -> None:
    """A dark coat along the lower half of the picture's left side leaves that side's edge seen along only
    half its length; the rectangle of the four seen sides still outranks those that reach the border."""
    picture = photo_like(45, 420, 420)
    picture[190:, :140] = 20  # dark, like the app's dark theme around it
    canvas = np.full((860, 730, 3), 18, dtype=np.uint8)
    canvas[0:60, :] = 30
    canvas[190:610, 110:530] = picture
    original = pdq_from_pixels(picture)[0]
    assert _distance(pdq_from_pixels(canvas)[0], original) > 31
    found = [(r.name, _distance(r.value, original)) for r in region_hashes(canvas)]
    assert min(d for name, d in found if name.startswith("inner rectangle")) <= 31, found
