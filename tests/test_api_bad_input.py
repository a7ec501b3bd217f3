"""Every refusal is a 4xx with a stable code and a sentence, and leaves the store as it was."""

from __future__ import annotations

import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.engine import Engine
from seawall.store.tables import BankEntryRow, ItemRow

from .conftest import auth, encode, textured_image


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.db.session() as s:
        items = s.scalar(select(func.count()).select_from(ItemRow)) or 0
        entries = s.scalar(select(func.count()).select_from(BankEntryRow)) or 0
    return int(items), int(entries)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` with a tiny, valid IDAT: a decompression-bomb shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def _error(r: object, status: int, code: str) -> None:
    resp = r  # httpx.Response
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    body = resp.json()  # type: ignore[attr-defined]
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and len(body["message"]) > 10


@pytest.fixture
def seeded(client: TestClient, keys: dict[str, str], engine: Engine) -> tuple[int, int]:
    """A bank with one image in it; returns the store counts every failing request must leave alone."""
    client.post("/v1/banks", json={"name": "tvec"}, headers=auth(keys["admin"]))
    client.post("/v1/banks/tvec/entries", files={"file": ("a.jpg", encode(textured_image(3)), "image/jpeg")},
                headers=auth(keys["admin"]))
    client.post("/v1/items", json={"content_id": "ok", "text": "fine"}, headers=auth(keys["submitter"]))
    return _counts(engine)


def test_non_image_sent_as_image_is_415(client: TestClient, keys: dict[str, str], engine: Engine,
                                        seeded: tuple[int, int]) -> None:
    h = auth(keys["submitter"])
    r = client.post("/v1/items", files={"file": ("x.jpg", b"this is plain text, not a picture", "image/jpeg")},
                    data={"content_id": "c"}, headers=h)
    _error(r, 415, "unsupported_media_type")
    r = client.post("/v1/items", files={"file": ("x.bin", b"\x00\x01garbage", "application/octet-stream")},
                    data={"content_id": "c", "content_type": "image"}, headers=h)
    _error(r, 415, "unsupported_media_type")
    r = client.post("/v1/items", content=b"raw", headers={**h, "Content-Type": "application/octet-stream"})
    _error(r, 415, "unsupported_media_type")
    assert _counts(engine) == seeded


def test_truncated_image_is_422(client: TestClient, keys: dict[str, str], engine: Engine,
                                seeded: tuple[int, int]) -> None:
    data = encode(textured_image(5, (800, 600)), quality=90)
    for cut in (data[: len(data) // 3], encode(textured_image(5), "PNG")[:400]):
        r = client.post("/v1/items", files={"file": ("t.jpg", cut, "image/jpeg")}, data={"content_id": "c"},
                        headers=auth(keys["submitter"]))
        _error(r, 422, "corrupt_image")
    assert _counts(engine) == seeded


def test_oversized_body_is_413_before_reading(client: TestClient, keys: dict[str, str], engine: Engine,
                                             seeded: tuple[int, int]) -> None:
    limit = engine.settings.max_upload_bytes
    big = b"\xff\xd8\xff" + b"\x00" * (limit + 10)
    r = client.post("/v1/items", files={"file": ("big.jpg", big, "image/jpeg")}, data={"content_id": "c"},
                    headers=auth(keys["submitter"]))
    _error(r, 413, "too_large")

    def chunks() -> object:
        for _ in range(limit // (1 << 20) + 2):
            yield b"\x00" * (1 << 20)

    r = client.post("/v1/items", content=chunks(),  # type: ignore[arg-type]
                    headers={**auth(keys["submitter"]), "Content-Type": "multipart/form-data; boundary=x"})
    _error(r, 413, "too_large")
    assert _counts(engine) == seeded


def test_pixel_limit_and_bomb_are_413(client: TestClient, keys: dict[str, str], engine: Engine,
                                      seeded: tuple[int, int]) -> None:
    bomb = _png_header_only(40_000, 40_000)  # 1.6 GP claimed in 100 bytes
    assert len(bomb) < 200
    r = client.post("/v1/items", files={"file": ("b.png", bomb, "image/png")}, data={"content_id": "c"},
                    headers=auth(keys["submitter"]))
    _error(r, 413, "image_too_large")
    assert "over the limit" in r.json()["message"]
    # the same refusal when adding to a bank
    r = client.post("/v1/banks/tvec/entries", files={"file": ("b.png", bomb, "image/png")},
                    headers=auth(keys["admin"]))
    _error(r, 413, "image_too_large")
    assert _counts(engine) == seeded


def test_malformed_hashes_name_the_field(client: TestClient, keys: dict[str, str], engine: Engine,
                                         seeded: tuple[int, int]) -> None:
    h = auth(keys["admin"])
    cases = [
        ({"signal_type": "pdq", "value": "abc"}, "invalid_signal_value", "pdq"),
        ({"signal_type": "pdq", "value": "g" * 64}, "invalid_signal_value", "pdq"),
        ({"signal_type": "md5", "value": "0" * 31}, "invalid_signal_value", "md5"),
        ({"signal_type": "sha256", "value": "0" * 63}, "invalid_signal_value", "sha256"),
        ({"signal_type": "nope", "value": "0" * 32}, "unknown_signal_type", "nope"),
        ({"signal_type": "md5"}, "invalid_request", "value"),
        ({"signal_type": "md5", "value": "0" * 32, "labels": ["behaviour:not-a-thing"]}, "invalid_label",
         "labels"),
    ]
    for body, code, mention in cases:
        r = client.post("/v1/banks/tvec/entries", json=body, headers=h)
        _error(r, 422, code)
        assert mention in r.json()["message"], r.json()
    r = client.get("/v1/lookup", params={"signal_type": "pdq", "value": "12"}, headers=h)
    _error(r, 422, "invalid_signal_value")
    r = client.get("/v1/lookup", params={"signal_type": "pdq"}, headers=h)
    _error(r, 422, "invalid_request")
    assert "value" in r.json()["message"]
    r = client.post("/v1/banks", json={"name": "bad name!"}, headers=h)
    _error(r, 422, "invalid_bank_name")
    r = client.post("/v1/banks", json={"name": "x", "thresholds": {"pdq": 500}}, headers=h)
    _error(r, 422, "invalid_threshold")
    r = client.patch("/v1/banks/tvec", json={"kind": "maybe"}, headers=h)
    _error(r, 422, "invalid_request")
    r = client.post("/v1/items", json={"text": "no id"}, headers=auth(keys["submitter"]))
    _error(r, 422, "invalid_request")
    assert "content_id" in r.json()["message"]
    r = client.post("/v1/items", data={"account_id": "a"}, files={"file": ("a.jpg", b"x", "image/jpeg")},
                    headers=auth(keys["submitter"]))
    _error(r, 422, "missing_field")
    assert _counts(engine) == seeded


def test_unknown_bank_is_404(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    for method, path, kw in (
        ("GET", "/v1/banks/ghost", {}),
        ("PATCH", "/v1/banks/ghost", {"json": {"enabled": False}}),
        ("DELETE", "/v1/banks/ghost", {}),
        ("POST", "/v1/banks/ghost/entries", {"json": {"signal_type": "md5", "value": "0" * 32}}),
        ("POST", "/v1/banks/ghost/import", {"content": b"md5 " + b"0" * 32}),
        ("GET", "/v1/banks/ghost/export", {}),
        ("GET", "/v1/items/ffffffffffffffffffffffffffffffff", {}),
    ):
        r = client.request(method, path, headers=h, **kw)  # type: ignore[arg-type]
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["code"] in ("bank_not_found", "item_not_found")


def test_auth_and_roles(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    r = client.get("/v1/banks")
    _error(r, 401, "missing_api_key")
    assert r.headers["www-authenticate"] == "Bearer"
    _error(client.get("/v1/banks", headers=auth("sw_nothere_secret")), 401, "invalid_api_key")
    _error(client.get("/v1/banks", headers=auth("garbage")), 401, "invalid_api_key")
    admin_key = keys["admin"]
    forged = admin_key[:-3] + ("aaa" if not admin_key.endswith("aaa") else "bbb")
    _error(client.get("/v1/banks", headers=auth(forged)), 401, "invalid_api_key")
    _error(client.post("/v1/banks", json={"name": "x"}, headers=auth(keys["submitter"])), 403, "forbidden")
    _error(client.post("/v1/banks", json={"name": "x"}, headers=auth(keys["reviewer"])), 403, "forbidden")
    _error(client.get("/v1/banks", headers=auth(keys["submitter"])), 403, "forbidden")
    _error(client.post("/v1/items", json={"content_id": "c", "text": "t"}, headers=auth(keys["reviewer"])), 403,
           "forbidden")
    assert client.get("/v1/banks", headers=auth(keys["reviewer"])).status_code == 200
    # a revoked key stops working at once in this process
    key_id = keys["submitter"].split("_")[1]
    ok = client.post("/v1/items", json={"content_id": "c", "text": "t"}, headers=auth(keys["submitter"]))
    assert ok.status_code == 200
    engine.api_keys.revoke(key_id)
    _error(client.post("/v1/items", json={"content_id": "c", "text": "t"}, headers=auth(keys["submitter"])), 401,
           "invalid_api_key")


def test_unknown_route_and_method_have_error_bodies(client: TestClient) -> None:
    _error(client.get("/v1/nothing"), 404, "not_found")
    _error(client.put("/healthz"), 405, "method_not_allowed")


# --- text, links, containers --------------------------------------------------------------------


def _multipart_text(raw: bytes, content_id: str = "t") -> tuple[bytes, str]:
    """A multipart body whose ``text`` field carries exactly these bytes (a client may send any)."""
    boundary = "seawall-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="content_id"\r\n\r\n{content_id}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n'.encode() + raw + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_invalid_utf8_text_is_422(client: TestClient, keys: dict[str, str], engine: Engine,
                                  seeded: tuple[int, int]) -> None:
    sub = auth(keys["submitter"])
    bad = b"join us \xff\xfe\xc3( at dawn"
    body, ctype = _multipart_text(bad)
    _error(client.post("/v1/items", content=body, headers={**sub, "Content-Type": ctype}), 422, "invalid_text")
    raw_json = b'{"content_id": "t", "text": "join us ' + b"\xff\xfe" + b'"}'
    r = client.post("/v1/items", content=raw_json, headers={**sub, "Content-Type": "application/json"})
    _error(r, 422, "invalid_request")
    lone = b'{"content_id": "t", "text": "join \\ud800 us"}'  # a JSON escape for half a surrogate pair
    r = client.post("/v1/items", content=lone, headers={**sub, "Content-Type": "application/json"})
    _error(r, 422, "invalid_request")
    assert _counts(engine) == seeded
    # Valid UTF-8 whose characters all fit in Latin-1 is not mistaken for an undecodable field.
    body, ctype = _multipart_text("Rendez-vous au café à l'aube".encode(), "fr")
    r = client.post("/v1/items", content=body, headers={**sub, "Content-Type": ctype})
    assert r.status_code == 200, r.text


def test_text_over_one_megabyte_is_413(client: TestClient, keys: dict[str, str], engine: Engine,
                                       seeded: tuple[int, int]) -> None:
    sub = auth(keys["submitter"])
    # 400,000 Arabic letters: under a million characters but 800,000 bytes … and 600,000 of them: over 1 MB.
    fits, over = "ب" * 400_000, "ب" * 600_000
    r = client.post("/v1/items", json={"content_id": "fits", "text": fits}, headers=sub)
    assert r.status_code == 200, r.text
    seeded = _counts(engine)
    _error(client.post("/v1/items", json={"content_id": "big", "text": over}, headers=sub), 413, "text_too_large")
    body, ctype = _multipart_text(over.encode(), "big-form")
    _error(client.post("/v1/items", content=body, headers={**sub, "Content-Type": ctype}), 413, "text_too_large")
    assert _counts(engine) == seeded


def test_bad_link_entries_are_422_and_nothing_is_stored(client: TestClient, keys: dict[str, str], engine: Engine,
                                                        seeded: tuple[int, int]) -> None:
    admin = auth(keys["admin"])
    for st, value in (("url", "http://user:secret@outlet.example/v/1"), ("url", "ftp://outlet.example/v/1"),
                      ("url", "javascript:alert(1)"), ("url_prefix", "https://a@outlet.example/u/x"),
                      ("domain", "ftp://outlet.example"), ("domain", "co.uk")):
        r = client.post("/v1/banks/tvec/entries", json={"signal_type": st, "value": value}, headers=admin)
        _error(r, 422, "invalid_signal_value")
    lines = "url https://ok.example/v/1\nurl ftp://outlet.example/v/2\n"
    r = client.post("/v1/banks/tvec/import?strict=true", content=lines.encode(), headers=admin)
    _error(r, 422, "import_rejected")
    assert "only http and https" in r.json()["detail"][0]["reason"]
    assert _counts(engine) == seeded  # strict: the good line is not kept either
    # A link with user info in a *post* is matched by the host it really opens, never refused.
    r = client.post("/v1/items", json={"content_id": "p", "text": "see http://trusted.example@evil.example/x"},
                    headers=auth(keys["submitter"]))
    assert r.status_code == 200, r.text
    assert "http://evil.example/x" in {s["value"] for s in r.json()["signals"] if s["type"] == "url"}


def test_zip_and_compressed_containers_are_files_never_unpacked(client: TestClient, keys: dict[str, str],
                                                                engine: Engine, seeded: tuple[int, int]) -> None:
    """An archive (even a zip bomb) is only digested as bytes: nothing is unpacked, so nothing can explode."""
    import gzip
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", b"\x00" * 50_000_000)  # 50 MB of zeros in ~50 KB
    bomb = buf.getvalue()
    assert len(bomb) < 100_000
    sub = auth(keys["submitter"])
    for name, data, mime in (("a.zip", bomb, "application/zip"),
                             ("b.gz", gzip.compress(b"\x00" * 10_000_000), "application/gzip")):
        r = client.post("/v1/items", files={"file": (name, data, mime)}, data={"content_id": name}, headers=sub)
        assert r.status_code == 200, r.text
        assert r.json()["content_type"] == "file"
        assert {s["type"] for s in r.json()["signals"]} == {"md5", "sha256"}
    # Declared as an image or a video, an archive is refused with a clear code, and nothing is stored.
    before = _counts(engine)
    r = client.post("/v1/items", files={"file": ("a.zip", bomb, "image/png")}, data={"content_id": "z"}, headers=sub)
    assert r.status_code in (415, 422), r.text
    assert r.json()["code"] in ("unsupported_media_type", "corrupt_image", "not_an_image"), r.json()
    r = client.post("/v1/items", files={"file": ("a.zip", bomb, "video/mp4")},
                    data={"content_id": "z", "content_type": "video"}, headers=sub)
    assert r.status_code in (415, 422), r.text
    assert _counts(engine) == before


def test_json_body_over_its_limit_is_413_before_reading(client: TestClient, keys: dict[str, str], engine: Engine,
                                                        seeded: tuple[int, int]) -> None:
    """A JSON body is held to its own, smaller limit: a text item is at most 1 MB, so 45 MB is never parsed."""
    limit = engine.settings.max_json_bytes
    assert limit < engine.settings.max_upload_bytes
    body = b'{"content_id": "c", "text": "' + b"a" * limit + b'"}'
    r = client.post("/v1/items", content=body, headers={**auth(keys["submitter"]), "Content-Type": "application/json"})
    _error(r, 413, "too_large")
    # a text item just over 1 MB is inside the JSON limit and gets the text limit's own answer
    r = client.post("/v1/items", json={"content_id": "c", "text": "a" * (1024 * 1024 + 1)},
                    headers=auth(keys["submitter"]))
    _error(r, 413, "text_too_large")
    assert _counts(engine) == seeded
