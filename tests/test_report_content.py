"""A report may bring the reported content, so the reviewer of an item allowed at upload (and therefore not
kept) does not judge it blind; content that is not the item's is refused and stores nothing.
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import CaseRow, ItemContentRow, ReportRow
from tests.conftest import encode, textured_image
from tests.console_support import auth, engine_for, make_users, sign_in

POST = "a generated post about the weekend market, reported as a threat"


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _count(engine: Engine, table: type, *where: object) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)  # type: ignore[arg-type]


def _text_item(client: TestClient, key: str, content_id: str = "post-1") -> str:
    r = client.post("/v1/items", headers=auth(key), json={"content_id": content_id, "account_id": "acct-1",
                                                          "text": POST})
    assert r.status_code == 200 and r.json()["verdict"] == "allow", r.text
    return str(r.json()["id"])


def _image_item(client: TestClient, key: str, data: bytes) -> str:
    r = client.post("/v1/items", headers=auth(key), files={"file": ("p.jpg", data, "image/jpeg")},
                    data={"content_id": "pic-1", "account_id": "acct-1"})
    assert r.status_code == 200 and r.json()["verdict"] == "allow", r.text
    return str(r.json()["id"])


def test_a_reported_text_sent_with_the_report_is_shown_to_the_reviewer(
        client: TestClient, engine: Engine, users: ConsoleUsers, keys: dict[str, str]) -> None:
    item_id = _text_item(client, keys["submitter"])
    assert client.get(f"/v1/items/{item_id}/content", headers=auth(keys["admin"])).json()["code"] \
        == "content_not_kept"
    r = client.post("/v1/reports", headers=auth(keys["submitter"]), json={
        "item_id": item_id, "category": "imminent-credible-threat", "text": "see the last line",
        "content_text": POST})
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{case_id}").text
    assert POST in page and "did not keep this content" not in page
    kept = client.get(f"/v1/items/{item_id}/content", headers=auth(keys["admin"])).json()
    assert kept["text"] == POST and kept["media_type"].startswith("text/plain")
    with engine.db.session() as s:
        assert s.scalar(select(ItemContentRow.reason).where(ItemContentRow.item_id == item_id)) == "reported"


def test_a_report_without_content_says_why_the_reviewer_sees_nothing(
        client: TestClient, engine: Engine, users: ConsoleUsers, keys: dict[str, str]) -> None:
    item_id = _text_item(client, keys["submitter"])
    r = client.post("/v1/reports", headers=auth(keys["submitter"]), json={"item_id": item_id, "category": "other"})
    sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{r.json()['case_id']}").text
    assert "did not keep this content" in page and POST not in page


def test_a_reported_image_sent_as_a_file_is_shown_shielded(
        client: TestClient, engine: Engine, users: ConsoleUsers, keys: dict[str, str]) -> None:
    data = encode(textured_image(5))
    item_id = _image_item(client, keys["submitter"], data)
    r = client.post("/v1/reports", headers=auth(keys["submitter"]),
                    data={"item_id": item_id, "category": "glorification", "reporter_account": "u1"},
                    files={"file": ("reported.jpg", data, "image/jpeg")})
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{case_id}").text
    assert f'src="/console/cases/{case_id}/media"' in page and 'class="shielded"' in page
    media = client.get(f"/console/cases/{case_id}/media")
    assert media.status_code == 200 and media.headers["content-type"].startswith("image/")
    assert media.content != data, "the shielded rendition, never the original"
    kept = client.get(f"/v1/items/{item_id}/content", headers=auth(keys["admin"])).json()
    assert kept["media_type"] == "image/jpeg" and kept["size_bytes"] == len(data)


def test_content_that_is_not_the_items_is_refused_and_stores_nothing(
        client: TestClient, engine: Engine, keys: dict[str, str]) -> None:
    item_id = _text_item(client, keys["submitter"])
    h = auth(keys["submitter"])
    for body in ({"content_text": POST + " "}, {"content_text": "something else entirely"}):
        r = client.post("/v1/reports", headers=h, json={"item_id": item_id, "category": "other", **body})
        assert r.status_code == 422 and r.json()["code"] == "content_mismatch", r.text
        assert "SHA-256" in r.json()["message"]
    r = client.post("/v1/reports", headers=h, data={"item_id": item_id, "category": "other"},
                    files={"file": ("x.jpg", encode(textured_image(6)), "image/jpeg")})
    assert r.status_code == 422 and r.json()["code"] == "content_mismatch", r.text
    assert _count(engine, ReportRow) == 0 and _count(engine, CaseRow) == 0 and _count(engine, ItemContentRow) == 0


def test_bad_report_forms_get_a_code_and_a_sentence(client: TestClient, engine: Engine,
                                                    keys: dict[str, str]) -> None:
    item_id = _text_item(client, keys["submitter"])
    h = auth(keys["submitter"])
    cases = [
        ({"data": {"item_id": item_id}}, 422, "invalid_request"),  # no category
        ({"data": {"item_id": item_id, "category": "other", "colour": "red"}}, 422, "invalid_request"),
        ({"data": {"item_id": item_id, "category": "other", "content_text": POST},
          "files": {"file": ("x.txt", POST.encode(), "text/plain")}}, 422, "invalid_request"),  # content twice
        ({"data": {"item_id": item_id, "category": "other"},
          "files": {"category": ("c.txt", b"other", "text/plain")}}, 422, "invalid_field"),
        ({"content": b"item_id=x&category=other", "headers": {"content-type": "text/plain"}}, 415,
         "unsupported_media_type"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "invalid_request"),
    ]
    for kwargs, status, code in cases:
        headers = {**h, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        r = client.post("/v1/reports", headers=headers, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == status and r.json()["code"] == code and r.json()["message"], (kwargs, r.text)
    assert _count(engine, ReportRow) == 0
    r = client.post("/v1/reports", headers=h, data={"item_id": item_id, "category": "other", "content_text": POST})
    assert r.status_code == 201 and _count(engine, ItemContentRow) == 1, "a form without a file is a report too"


def test_content_already_kept_stays_as_it_was(client: TestClient, engine: Engine, keys: dict[str, str]) -> None:
    r = client.post("/v1/items", headers=auth(keys["submitter"]), json={
        "content_id": "kept-1", "account_id": "acct-1", "text": POST, "keep": True, "context": {"room": "!r"}})
    item_id = r.json()["id"]
    r = client.post("/v1/reports", headers=auth(keys["submitter"]),
                    json={"item_id": item_id, "category": "other", "content_text": POST})
    assert r.status_code == 201, r.text
    kept = client.get(f"/v1/items/{item_id}/content", headers=auth(keys["admin"])).json()
    assert kept["reason"] == "asked" and kept["context"] == {"room": "!r"}
