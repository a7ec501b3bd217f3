"""Near misses verified with local features (ORB + RANSAC homography) in stage 2: watermarked and meme-
lettered copies that every region hash misses are found, unrelated pictures are not, and the in-request
stage never computes features. Needs ``opencv-python-headless`` (a declared dependency)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from seawall.media import orb
from seawall.media.content import Content
from seawall.signals.base import SignalType
from seawall.signals.orb import CANDIDATES, OrbSignal, encode_bank, orb_query_signal
from seawall.signals.pdq.index import Hamming256Index
from seawall.signals.pdq.signal import pdq_from_pixels
from seawall.signals.pdq_crop import PdqCropSignal
from seawall.signals.pdq_regions import lettering_mask, region_signals
from seawall.testing import SignalTypeAutoTest
from seawall.uploads.stages import region_signals_forms

from .conftest import auth
from .robust_media import FAMILIES, photo_like

#: Cases no PDQ form (whole, regions, banked crops) finds within 31 (checked below, so they test ORB).
CASES = [("watermark", "25%", 0), ("meme_text", "12%", 0)]


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, "RGB").save(buf, "PNG")
    return buf.getvalue()


class TestOrbConforms(SignalTypeAutoTest):
    def get_signal_type(self) -> SignalType:
        return OrbSignal()

    def get_samples(self) -> list[Content]:
        return [Content("image", data=_png(photo_like(s, 300, 400))) for s in (51, 52)]


def test_orb_is_available() -> None:
    assert orb.available(), "opencv-python-headless is a dependency: install the environment from requirements.lock"


@pytest.mark.parametrize("size", [(1, 1), (1, 900), (31, 31), (7, 400)])
def test_a_tiny_picture_has_no_points_and_banks_without_an_orb_entry(size: tuple[int, int], client: TestClient,
                                                                     keys: dict[str, str]) -> None:
    tiny = np.random.default_rng(7).integers(0, 255, (*size, 3), dtype=np.uint8)
    assert len(orb.features(tiny, orb.BANK_POINTS)) == 0
    admin = auth(keys["admin"])
    assert client.post("/v1/banks", headers=admin, json={"name": "tiny"}).status_code == 201
    r = client.post("/v1/banks/tiny/entries", headers=admin, files={"file": ("t.png", _png(tiny))})
    assert r.status_code < 300, r.text
    assert "orb" not in {e["signal_type"] for e in r.json()["entries"]}


def test_a_copy_has_many_consistent_points_and_an_unrelated_picture_few() -> None:
    picture = photo_like(61, 420, 560)
    banked = orb.features(picture, orb.BANK_POINTS)
    assert 100 <= len(banked) <= orb.BANK_POINTS
    turned = FAMILIES["rotate"]["6deg"](FAMILIES["watermark"]["25%"](picture, np.random.default_rng(1)),
                                        np.random.default_rng(1))
    query = orb.features(turned, orb.QUERY_POINTS)
    assert len(query) <= orb.QUERY_POINTS
    assert orb.inliers(query, banked) >= 24
    for seed in (62, 63, 64):
        other = orb.features(photo_like(seed, 420, 560), orb.QUERY_POINTS)
        assert orb.inliers(other, banked) < 12, seed


def test_only_the_nearest_near_misses_are_verified() -> None:
    """CPU is bounded: at most CANDIDATES banked pictures (nearest by PDQ, within the band) are checked."""
    picture = photo_like(71, 420, 560)
    feats = orb.features(picture, orb.BANK_POINTS)
    index = OrbSignal().create_index()
    pdq = pdq_from_pixels(picture)[0]
    far = f"{int(pdq, 16) ^ ((1 << 100) - 1):064x}"  # 100 bits away: outside the band
    index.add([(1, encode_bank(far, feats))])
    index.add([(10 + i, encode_bank(pdq, orb.features(photo_like(80 + i, 300, 400), orb.BANK_POINTS)))
               for i in range(CANDIDATES)])
    query = orb_query_signal(Content("image", data=_png(picture)), [pdq])
    assert query is not None
    # the copy's own entry is out of the PDQ band and the CANDIDATES nearest are unrelated: nothing verifies
    assert OrbSignal().create_index().search([query.value], 76) == []
    assert index.search([query.value], 76) == []
    unrelated = [(10 + i, encode_bank(pdq, orb.features(photo_like(80 + i, 300, 400), orb.BANK_POINTS)))
                 for i in range(CANDIDATES)]
    index.add([(2, encode_bank(pdq, feats))])  # within the band, but the seventh at 0 bits: beyond the cap
    assert index.search([query.value], 76) == []
    index.remove(unrelated[:1])  # now among the nearest CANDIDATES: verified and found
    assert [h.entry_id for h in index.search([query.value], 76)] == [2]


def test_stage_one_never_computes_features() -> None:
    assert OrbSignal().compute(Content("image", data=_png(photo_like(91, 200, 300))), for_query=True) == []


def test_near_misses_are_found_through_orb(client: TestClient, keys: dict[str, str], banked: np.ndarray) -> None:
    whole = Hamming256Index()
    whole.add([(1, pdq_from_pixels(banked)[0])])
    crops = Hamming256Index()
    crops.add([(i + 2, s.value) for i, s in enumerate(PdqCropSignal().compute(
        Content("image", data=b"", _pixels=banked)))])
    for family, strength, seed in CASES:
        upload = FAMILIES[family][strength](banked, np.random.default_rng(seed))
        regions = region_signals(Content("image", data=_png(upload)))
        assert regions and region_signals_forms(regions)
        assert not any((crops if s.type == "pdq_crop" else whole).search([s.value, *s.variants], 31)
                       for s in regions), f"{family}: a PDQ form already finds it"
        r = client.post("/v1/items?wait=final&timeout_ms=60000", files={"file": ("u.png", _png(upload), "image/png")},
                        data={"content_id": f"{family}-{strength}"}, headers=auth(keys["submitter"]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["verdict"] == "block", (family, body["reasons"])
        assert [m["signal_type"] for m in body["matches"]] == ["orb"], body["matches"]
        assert any("consistent ORB points" in reason for reason in body["reasons"]), body["reasons"]
        # the ORB query (tens of kilobytes of points) is used for matching only: not kept, not shown
        kept = client.get(f"/v1/items/{body['id']}", headers=auth(keys["submitter"])).json()
        assert "orb" not in {sig["type"] for sig in [*body["signals"], *kept["signals"]]}
        assert {"pdq", "pdq_crop"} <= {sig["type"] for sig in kept["signals"]}


def test_unrelated_pictures_are_not_verified(client: TestClient, keys: dict[str, str], banked: np.ndarray) -> None:
    for seed in (42, 43):
        other = FAMILIES["watermark"]["25%"](photo_like(seed, 420, 560), np.random.default_rng(0))
        r = client.post("/v1/items?wait=final&timeout_ms=60000", files={"file": ("u.png", _png(other), "image/png")},
                        data={"content_id": f"other-{seed}"}, headers=auth(keys["submitter"]))
        assert r.status_code == 200 and r.json()["verdict"] == "allow", r.text


def test_in_request_answer_has_no_orb(client: TestClient, keys: dict[str, str], banked: np.ndarray) -> None:
    upload = FAMILIES["watermark"]["25%"](banked, np.random.default_rng(0))
    r = client.post("/v1/items?wait=stage1", files={"file": ("u.png", _png(upload), "image/png")},
                    data={"content_id": "stage-one"}, headers=auth(keys["submitter"]))
    assert r.status_code == 200, r.text
    assert "regions" in r.json()["pending"] and not any(m["signal_type"] == "orb" for m in r.json()["matches"])


def test_points_are_not_taken_on_meme_lettering() -> None:
    """Outlined meme lettering at 12 % of the height has the sharpest corners of the upload: without the
    lettering mask it takes most of the query's points and too few are left on the picture to verify it."""
    signal = OrbSignal()
    for seed in range(6):
        picture = photo_like(10_000 + seed, 420, 560)
        upload = FAMILIES["meme_text"]["12%"](picture, np.random.default_rng(seed))
        banked = orb.features(picture, orb.BANK_POINTS)
        mask = lettering_mask(upload)
        assert mask is not None, seed
        masked = orb.inliers(orb.features(upload, orb.QUERY_POINTS, exclude=mask), banked)
        assert masked >= 3 * orb.inliers(orb.features(upload, orb.QUERY_POINTS), banked), seed
        query = orb_query_signal(Content("image", data=_png(upload)), [pdq_from_pixels(picture)[0]])
        assert query is not None
        index = signal.create_index()
        index.add([(1, signal.compute(Content("image", data=b"", _pixels=picture))[0].value)])
        assert [h.entry_id for h in index.search([query.value], signal.default_threshold)] == [1], seed
