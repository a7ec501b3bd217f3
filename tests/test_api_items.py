"""Upload-time verdicts through ``POST /v1/items`` on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from PIL import Image

from seawall.signals.pdq.signal import pdq_from_pixels

from .conftest import auth, encode, textured_image


def _bank(client: TestClient, key: str, name: str, **kw: object) -> None:
    r = client.post("/v1/banks", json={"name": name, **kw}, headers=auth(key))
    assert r.status_code == 201, r.text


def _add_image(client: TestClient, key: str, bank: str, data: bytes, labels: str = "") -> dict[str, object]:
    r = client.post(f"/v1/banks/{bank}/entries", files={"file": ("x.jpg", data, "image/jpeg")},
                    data={"labels": labels}, headers=auth(key))
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def _submit(client: TestClient, key: str, data: bytes, cid: str = "c1", **fields: str) -> dict[str, object]:
    r = client.post("/v1/items", files={"file": ("u.jpg", data, "image/jpeg")},
                    data={"content_id": cid, **fields}, headers=auth(key))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_known_image_blocked_reencoded_rotated_and_flipped(client: TestClient, keys: dict[str, str]) -> None:
    admin, sub = keys["admin"], keys["submitter"]
    _bank(client, admin, "tvec", labels=["behaviour:glorification"])
    img = textured_image(7)
    added = _add_image(client, admin, "tvec", encode(img, quality=95), labels="group:demo")
    assert {e["signal_type"] for e in added["entries"]} == {"md5", "sha256", "pdq", "pdq_crop", "orb"}  # type: ignore[union-attr]
    variants = {
        "reencoded": encode(img.resize((500, 375)), quality=40),
        "rot90": encode(img.rotate(90, expand=True)),
        "rot180": encode(img.rotate(180)),
        "mirror": encode(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "png": encode(img, "PNG"),
    }
    for name, data in variants.items():
        v = _submit(client, sub, data, cid=name, account_id="acct-1")
        assert v["verdict"] == "block", (name, v)
        pdq_matches = [m for m in v["matches"] if m["signal_type"] == "pdq"]  # type: ignore[union-attr,index]
        assert pdq_matches and pdq_matches[0]["distance"] <= 31, name
        assert pdq_matches[0]["labels"] == ["behaviour:glorification", "group:demo"]
        assert v["account_id"] == "acct-1"
    unrelated = _submit(client, sub, encode(textured_image(99)), cid="other")
    assert unrelated["verdict"] == "allow" and unrelated["matches"] == []
    assert unrelated["reasons"] == ["no bank matched"]


def test_exact_copy_matches_md5_and_sha256(client: TestClient, keys: dict[str, str]) -> None:
    admin = keys["admin"]
    _bank(client, admin, "files")
    blob = b"%PDF-1.4 generated manual stand-in " + bytes(range(256)) * 4
    for sig in ("md5", "sha256"):
        client.post("/v1/banks/files/entries", json={"signal_type": sig, "value": hashlib.new(sig, blob).hexdigest()},
                    headers=auth(admin))
    r = client.post("/v1/items", files={"file": ("m.pdf", blob, "application/pdf")}, data={"content_id": "pdf1"},
                    headers=auth(keys["submitter"]))
    body = r.json()
    assert body["content_type"] == "file" and body["verdict"] == "block"
    assert {m["signal_type"] for m in body["matches"]} == {"md5", "sha256"}


def test_allow_bank_wins(client: TestClient, keys: dict[str, str]) -> None:
    admin = keys["admin"]
    _bank(client, admin, "tvec")
    _bank(client, admin, "news", kind="allow")
    data = encode(textured_image(11))
    _add_image(client, admin, "tvec", data)
    _add_image(client, admin, "news", data)
    v = _submit(client, keys["submitter"], data)
    assert v["verdict"] == "allow"
    assert {m["bank_kind"] for m in v["matches"]} == {"allow", "block"}  # type: ignore[union-attr,index]
    assert any("allow wins" in r for r in v["reasons"])  # type: ignore[union-attr]


def test_review_and_label_actions(client: TestClient, keys: dict[str, str]) -> None:
    admin = keys["admin"]
    _bank(client, admin, "maybe", default_action="review")
    _bank(client, admin, "mild", default_action="label")
    a, b = encode(textured_image(21)), encode(textured_image(22))
    _add_image(client, admin, "maybe", a)
    _add_image(client, admin, "mild", b)
    assert _submit(client, keys["submitter"], a)["verdict"] == "review"
    assert _submit(client, keys["submitter"], b)["verdict"] == "label"
    _add_image(client, admin, "mild", a)
    assert _submit(client, keys["submitter"], a)["verdict"] == "review"  # the stronger proposal wins


def test_low_quality_hash_never_matches_and_says_why(client: TestClient, keys: dict[str, str]) -> None:
    admin = keys["admin"]
    _bank(client, admin, "b")
    flat = Image.new("RGB", (400, 300), (128, 128, 128))
    pixels_hash, quality = pdq_from_pixels(__import__("numpy").asarray(flat))
    assert quality < 50
    r = client.post("/v1/banks/b/entries", json={"signal_type": "pdq", "value": pixels_hash}, headers=auth(admin))
    assert r.status_code == 201
    v = _submit(client, keys["submitter"], encode(flat, "PNG"))
    assert v["verdict"] == "allow"
    assert not [m for m in v["matches"] if m["signal_type"] == "pdq"]  # type: ignore[union-attr,index]
    assert any("quality" in reason and "below 50" in reason for reason in v["reasons"])  # type: ignore[union-attr]
    # and a low-quality image offered to a bank is refused, with the reason
    added = client.post("/v1/banks/b/entries", files={"file": ("f.png", encode(flat, "PNG"), "image/png")},
                        headers=auth(admin)).json()
    assert any("quality" in x for x in added["refused"])
    assert {e["signal_type"] for e in added["entries"]} == {"md5", "sha256"}


def test_text_item_and_get_item(client: TestClient, keys: dict[str, str]) -> None:
    admin, sub = keys["admin"], keys["submitter"]
    _bank(client, admin, "txt")
    text = "generated stand-in for a known manifesto paragraph"
    client.post("/v1/banks/txt/entries", json={"signal_type": "sha256",
                                               "value": hashlib.sha256(text.encode()).hexdigest()},
                headers=auth(admin))
    r = client.post("/v1/items", json={"content_id": "post-9", "account_id": "u9", "text": text}, headers=auth(sub))
    assert r.status_code == 200 and r.json()["verdict"] == "block"
    item_id = r.json()["id"]
    got = client.get(f"/v1/items/{item_id}", headers=auth(keys["reviewer"])).json()
    assert got["verdict"] == "block" and got["content_id"] == "post-9" and got["account_id"] == "u9"
    assert got["matches"][0]["bank"] == "txt"
    assert got["reasons"] == r.json()["reasons"]
    form = client.post("/v1/items", data={"content_id": "post-10", "text": "unrelated words"}, headers=auth(sub))
    assert form.status_code == 200 and form.json()["verdict"] == "allow"
