"""Re-appearance of suspended accounts: name folding, scoring, alerts, webhook event and the API.

Every account, name and avatar here is generated.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sqlalchemy import select

from seawall.accounts.names import name_keys, skeleton
from seawall.accounts.recidivism import ReappearanceService
from seawall.engine import Engine
from seawall.plugins import Registry
from seawall.plugins import registry as default_registry
from seawall.signals.base import SignalType
from seawall.signals.pdq.signal import PdqSignal
from seawall.store.tables import CaseRow, ItemRow, ReappearanceAlertRow, WebhookEventRow
from tests.conftest import auth, encode

CYRILLIC_A = "\u0430"


def avatar(seed: int) -> Image.Image:
    """A generated picture with avatar-sized structure: a smooth background and a few discs."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((256, 256),
                                                                                   Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = rng.integers(30, 226, 2).tolist()
        r = int(rng.integers(15, 50))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.integers(0, 256, 3).tolist()))
    return img


def reencoded(img: Image.Image, *, crop: float = 0.05, quality: int = 60) -> bytes:
    """The same picture cropped at the edges, downscaled and saved again as a lossy JPEG."""
    w, h = img.size
    dx, dy = int(w * crop), int(h * crop)
    return encode(img.crop((dx, dy, w - dx, h - dy)).resize((200, 200)), "JPEG", quality=quality)


def suspend(engine: Engine, account_id: str) -> None:
    with engine.db.session() as s:
        engine.accounts.suspend(s, account_id, permanent=True, reason="test")


def register(svc: ReappearanceService, account_id: str, username: str, display: str = "",
             img: bytes | None = None) -> dict:
    return svc.update_profile(account_id, username=username, display_name=display, avatar=img)


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", [
    "abu_khalid", "Abu.Khalid", "4bu_kh4lid", f"{CYRILLIC_A}bu_khalid", "abu-khalid-99", "ＡＢＵ_KHALID",
    "abu__khaaalid", "abu\u200bkhalid",
])
def test_mutated_names_fold_to_one_skeleton(variant: str) -> None:
    assert skeleton(variant) == skeleton("abu_khalid")


def test_name_keys_are_distinct_and_non_empty() -> None:
    assert name_keys("abu_khalid", "Abu Khalid") == [skeleton("abu_khalid")]
    assert name_keys("", "") == []


# --- scoring against suspended accounts --------------------------------------------------------------


POPULAR = ["john_smith", "maria", "alex99", "mike.jones", "sarah_k", "david_brown", "anna_lee", "chris"]


def _population(engine: Engine) -> ReappearanceService:
    """Suspended accounts with distinctive and with common names, each with its own avatar."""
    svc = ReappearanceService(engine.db, engine.webhooks.outbox, threshold=0.7)
    suspended = [("old-1", "abu_khalid_media", avatar(1)), ("old-2", "john_smith", avatar(2)),
                 ("old-3", "lion_of_the_caliphate", avatar(3)), ("old-4", "maria", avatar(4))]
    for i in range(20):
        suspended.append((f"old-x{i}", f"fighter_{chr(97 + i)}{chr(98 + i)}_{i}", avatar(100 + i)))
    for account_id, name, img in suspended:
        register(svc, account_id, name, name.replace("_", " "), encode(img, "PNG"))
        suspend(engine, account_id)
    return svc


def test_reregistration_with_mutated_name_and_reencoded_avatar_is_flagged(engine: Engine) -> None:
    svc = _population(engine)
    engine.webhooks.create(url="https://93.184.215.14/hook", event_types=["account.reappearance"])
    engine.webhooks.outbox.reload()
    result = register(svc, "new-1", f"4bu_kh{CYRILLIC_A}lid.media_2024", "", reencoded(avatar(1)))
    assert result["flagged"]
    top = result["candidates"][0]
    assert top["account_id"] == "old-1"
    assert top["score"] >= 0.7
    assert {"name", "avatar"} <= set(top["evidence"])
    assert top["evidence"]["avatar"]["pdq_distance"] <= 40
    alert = result["alert"]
    assert alert is not None and alert["candidates"][0]["account_id"] == "old-1"
    with engine.db.session() as s:
        assert s.scalars(select(ReappearanceAlertRow.account_id)).all() == ["new-1"]
        events = s.scalars(select(WebhookEventRow).where(WebhookEventRow.type == "account.reappearance")).all()
        assert len(events) == 1 and events[0].payload["data"]["account_id"] == "new-1"
    # the same profile again does not repeat an identical open alert
    register(svc, "new-1", f"4bu_kh{CYRILLIC_A}lid.media_2024", "", reencoded(avatar(1)))
    with engine.db.session() as s:
        assert len(s.scalars(select(ReappearanceAlertRow)).all()) == 1


def test_innocent_accounts_with_common_names_are_not_flagged(engine: Engine) -> None:
    svc = _population(engine)
    flagged = []
    for i in range(60):
        name = POPULAR[i % len(POPULAR)] + ("" if i < len(POPULAR) else str(i))
        img = encode(avatar(5000 + i), "JPEG", quality=85) if i % 2 else None
        if register(svc, f"innocent-{i}", name, name.title(), img)["flagged"]:
            flagged.append(name)
    assert flagged == []
    with engine.db.session() as s:
        assert s.scalars(select(ReappearanceAlertRow)).all() == []


def test_same_avatar_alone_or_name_alone_is_not_enough(engine: Engine) -> None:
    svc = _population(engine)
    assert not register(svc, "new-a", "completely_different_person", "", reencoded(avatar(3)))["flagged"]
    assert not register(svc, "new-b", "lion_of_the_caliphate_2", "", encode(avatar(777), "PNG"))["flagged"]
    # yet both are listed as candidates for a reviewer who looks
    assert register(svc, "new-c", "lion_of_the_caliphate_2", "", None)["candidates"][0]["account_id"] == "old-3"


def test_suspended_account_updating_its_profile_is_not_alerted(engine: Engine) -> None:
    svc = _population(engine)
    again = register(svc, "old-2", "john_smith", "", encode(avatar(2), "PNG"))
    assert again["alert"] is None  # a suspended account updating its own profile
    assert all(c["account_id"] != "old-2" for c in again["candidates"])


def test_uploads_add_domain_and_text_evidence(engine: Engine) -> None:
    svc = ReappearanceService(engine.db, None, threshold=0.7)
    text = "join us at hxxp://rally-point-example[.]org/meet and spread the word about the gathering tonight"
    engine.submit(engine.content("text", text=text), content_id="p1", account_id="old-t")
    register(svc, "old-t", "night_watch_crew", "", encode(avatar(9), "PNG"))
    suspend(engine, "old-t")
    engine.submit(engine.content("text", text=text + "!"), content_id="p2", account_id="new-t")
    result = register(svc, "new-t", "n1ght.watch.crew_7", "", None)
    top = result["candidates"][0]
    assert top["account_id"] == "old-t"
    assert top["evidence"]["domains"]["shared"] == ["rally-point-example.org"]
    assert top["evidence"]["text"]["max_similarity"] > 0.8
    assert result["flagged"]


# --- API -------------------------------------------------------------------------------------------


def test_api_profile_and_reappearance(engine: Engine, client: TestClient, keys: dict[str, str]) -> None:
    sub, rev = auth(keys["submitter"]), auth(keys["reviewer"])
    img = avatar(42)
    r = client.post("/v1/accounts/old-api/profile", headers=sub,
                    data={"username": "desert_wolf_official", "display_name": "Desert Wolf"},
                    files={"avatar": ("a.png", encode(img, "PNG"), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["avatar_pdq"] is not None
    suspend(engine, "old-api")
    r = client.post("/v1/accounts/new-api/profile", headers=sub,
                    data={"username": "d3sert.w0lf_0fficial_88", "display_name": "Desert Wolf"},
                    files={"avatar": ("a.jpg", reencoded(img), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["flagged"] and r.json()["alert"]["candidates"][0]["account_id"] == "old-api"
    r = client.get("/v1/accounts/new-api/reappearance", headers=rev)
    assert r.status_code == 200
    body = r.json()
    assert body["candidates"][0]["account_id"] == "old-api" and body["alerts"][0]["status"] == "open"


def test_api_bad_input(client: TestClient, keys: dict[str, str]) -> None:
    sub, rev = auth(keys["submitter"]), auth(keys["reviewer"])
    r = client.get("/v1/accounts/nobody/reappearance", headers=rev)
    assert r.status_code == 404 and r.json()["code"] == "account_not_found"
    form = {**sub, "Content-Type": "application/x-www-form-urlencoded"}
    r = client.post("/v1/accounts/x/profile", headers=form, content=b"display_name=")
    assert r.status_code == 400 or r.status_code == 422
    r = client.post("/v1/accounts/x/profile", headers=sub, json={"username": "a"})
    assert r.status_code == 415
    r = client.post("/v1/accounts/x/profile", headers=sub, data={"username": "a"},
                    files={"avatar": ("a.png", b"not an image", "image/png")})
    assert r.status_code in (400, 415, 422)
    r = client.post("/v1/accounts/x/profile", headers=rev, data={"username": "a"})
    assert r.status_code == 403


def test_flat_avatar_is_not_hashed(engine: Engine) -> None:
    svc = ReappearanceService(engine.db, None)
    flat = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8)).save(flat, "PNG")
    profile = register(svc, "flat", "someone", "", flat.getvalue())["profile"]
    assert profile["avatar_pdq"] is None and profile["avatar_quality"] < 50


# --- screening new accounts as they upload ------------------------------------------------------------

RALLY = "join us at hxxp://rally-point-example[.]org/meet and spread the word about the gathering tonight"


def _alerts(engine: Engine, account_id: str) -> list[ReappearanceAlertRow]:
    with engine.db.session() as s:
        return list(s.scalars(select(ReappearanceAlertRow).where(ReappearanceAlertRow.account_id == account_id)))


SLOGAN = "the banner of the generated movement will rise over every city, join the ranks today"


def _suspended_poster(engine: Engine) -> None:
    """An account that posted an outlet link and a banked slogan, then was suspended."""
    engine.banks.create("slogans")
    engine.add_entries_from_content("slogans", engine.content("text", text=SLOGAN), labels=[], note="", source="test",
                                    added_by="test")
    engine.submit(engine.content("text", text=RALLY), content_id="old-p1", account_id="old-u")
    engine.submit(engine.content("text", text=SLOGAN), content_id="old-p0", account_id="old-u")
    suspend(engine, "old-u")


def test_new_account_uploading_like_a_suspended_one_is_flagged_without_a_profile(engine: Engine) -> None:
    engine.webhooks.create(url="https://93.184.215.14/hook", event_types=["account.reappearance"])
    engine.webhooks.outbox.reload()
    _suspended_poster(engine)
    engine.submit(engine.content("text", text=RALLY + " now"), content_id="new-p1", account_id="new-u")
    engine.submit(engine.content("text", text=SLOGAN + "!"), content_id="new-p0", account_id="new-u")
    engine.submit(engine.content("text", text="a recipe for lentil soup with cumin and lemon, serves four people"),
                  content_id="inn-p1", account_id="innocent-u")
    assert engine.upload_watch.idle(30)
    alerts = _alerts(engine, "new-u")
    assert len(alerts) == 1
    top = alerts[0].candidates[0]
    assert top["account_id"] == "old-u"
    assert top["evidence"]["domains"]["shared"] == ["rally-point-example.org"]
    assert _alerts(engine, "innocent-u") == []
    with engine.db.session() as s:  # reviewers get it as a case on the account's newest upload
        cases = s.execute(select(CaseRow.source, CaseRow.reason, ItemRow.account_id)
                          .join(ItemRow, ItemRow.id == CaseRow.item_id)).all()
    assert [(c.source, c.account_id) for c in cases] == [("reappearance", "new-u")]
    assert "suspended account old-u" in cases[0].reason and "domains" in cases[0].reason
    with engine.db.session() as s:
        events = s.scalars(select(WebhookEventRow).where(WebhookEventRow.type == "account.reappearance")).all()
    assert [e.payload["data"]["account_id"] for e in events] == ["new-u"]
    # a second upload in the same vein repeats no alert: the open one already names the same candidates
    engine.submit(engine.content("text", text=RALLY + " again"), content_id="new-p2", account_id="new-u")
    assert engine.upload_watch.idle(30)
    assert len(_alerts(engine, "new-u")) == 1
    assert engine.upload_watch.stats()["alerts"] == 1


def test_only_new_accounts_are_screened_and_suspended_ones_never(engine: Engine) -> None:
    from datetime import timedelta

    from seawall.store.tables import AccountRow, utcnow

    _suspended_poster(engine)
    engine.submit(engine.content("text", text=RALLY), content_id="old-p2", account_id="old-u")  # the suspended itself
    with engine.db.session() as s:
        s.add(AccountRow(id="veteran-u", first_seen=utcnow() - timedelta(days=400)))
    engine.submit(engine.content("text", text=RALLY + " now"), content_id="vet-p1", account_id="veteran-u")
    engine.submit(engine.content("text", text=SLOGAN), content_id="vet-p2", account_id="veteran-u")
    assert engine.upload_watch.idle(30)
    assert _alerts(engine, "old-u") == [] and _alerts(engine, "veteran-u") == []
    # the explicit check still scores the veteran: screening limits cost, not what a reviewer may ask
    assert engine.reappearance.check("veteran-u")["flagged"]


def test_upload_screening_alert_is_visible_through_the_api(engine: Engine, client: TestClient,
                                                          keys: dict[str, str]) -> None:
    _suspended_poster(engine)
    for n, text in enumerate((RALLY + "!!", SLOGAN)):
        r = client.post("/v1/items", json={"content_id": f"api-p{n}", "account_id": "new-api", "text": text},
                        headers=auth(keys["submitter"]))
        assert r.status_code == 200, r.text
    assert engine.upload_watch.idle(30)
    body = client.get("/v1/accounts/new-api/reappearance", headers=auth(keys["reviewer"])).json()
    assert [a["candidates"][0]["account_id"] for a in body["alerts"]] == ["old-u"]
    metrics = client.get("/metrics").text
    assert 'seawall_reappearance_screening{state="alerts"} 1.0' in metrics


class _CoarseAvatars(PdqSignal):
    """A plugin's avatar hash: PDQ with a distance that only tells equal from different."""

    name = "coarse_avatar"

    def distance(self, a: str, b: str) -> int:
        return 0 if a == b else 256


def _registry_with(avatar_types: list[SignalType]) -> Registry:
    reg = Registry()
    for sig in default_registry().signal_types.values():
        if sig.account_evidence != "avatar":
            reg.add_signal_type(sig)
    for sig in avatar_types:
        reg.add_signal_type(sig)
    return reg


def test_avatars_are_hashed_and_compared_by_the_signal_type_declaring_them(engine: Engine) -> None:
    """Re-appearance names no signal type: the one declaring ``account_evidence = "avatar"`` hashes the
    picture and measures the distance; without one, pictures are not hashed and names still count."""
    none = ReappearanceService(engine.db, None, registry=_registry_with([]))
    assert none.avatar_signal is None and none.text_slots is not None
    profile = register(none, "plain", "someone_else", "", encode(avatar(1), "PNG"))["profile"]
    assert profile["avatar_pdq"] is None and profile["avatar_quality"] is None

    coarse = ReappearanceService(engine.db, None, registry=_registry_with([_CoarseAvatars()]))
    register(coarse, "old-c", "harbour_watch", "", encode(avatar(1), "PNG"))
    suspend(engine, "old-c")
    same = register(coarse, "new-c", "unrelated_name", "", encode(avatar(1), "PNG"))["candidates"]
    assert same[0]["account_id"] == "old-c" and same[0]["evidence"]["avatar"] == {"pdq_distance": 0}
    # a re-encode is a few PDQ bits off: found by the type's index, but this type's distance calls it unrelated
    near = register(coarse, "new-d", "unrelated_name", "", reencoded(avatar(1)))["candidates"]
    assert [c["account_id"] for c in near] == ["old-c"] and "avatar" not in near[0]["evidence"]


def test_accounts_waiting_together_ask_once_whether_anybody_is_suspended(engine: Engine) -> None:
    from seawall.accounts.watch import UploadWatch, WatchPolicy

    service = engine.reappearance
    asked: list[int] = []
    real_index = service.index

    def counted_index() -> object:
        asked.append(1)
        return real_index()

    service.index = counted_index  # type: ignore[method-assign]
    engine.upload_watch.close()  # only this watch screens (two would race to open the same case)
    watch = UploadWatch(service, WatchPolicy())
    try:
        with watch._cv:  # the accounts arrive while the thread cannot take any: they wait together
            for n in range(20):
                watch.note(f"burst-{n}")
        assert watch.idle(30)
        assert len(asked) == 1  # nobody suspended: one question for the 20 accounts, none screened
        assert watch.stats()["checked"] == 0
        _suspended_poster(engine)
        engine.submit(engine.content("text", text=RALLY + " now"), content_id="w-p1", account_id="w-new")
        engine.submit(engine.content("text", text=SLOGAN + "!"), content_id="w-p0", account_id="w-new")
        engine.submit(engine.content("text", text="a recipe for lentil soup with cumin and lemon, serves four"),
                      content_id="w-p2", account_id="w-innocent")
        with watch._cv:
            watch.note("w-new")
            watch.note("w-innocent")
        assert watch.idle(30)
        assert watch.stats()["checked"] == 2  # somebody suspended: each waiting account screened
        assert len(_alerts(engine, "w-new")) == 1 and _alerts(engine, "w-innocent") == []
    finally:
        watch.close()
        del service.index
