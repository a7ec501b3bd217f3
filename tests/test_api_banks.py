"""Banks, entries, import/export and lookups through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient

from seawall.engine import Engine

from .conftest import auth


def random_pdq() -> str:
    return secrets.token_hex(32)


def flip_bits(hex_hash: str, n: int) -> str:
    value = int(hex_hash, 16)
    for bit in range(n):
        value ^= 1 << (bit * 7 % 256)
    return f"{value:064x}"


def test_bank_crud(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    r = client.post("/v1/banks", json={"name": "tvec", "labels": ["behaviour:recruitment", "group:demo"],
                                        "thresholds": {"pdq": 20}}, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "tvec" and body["kind"] == "block" and body["thresholds"] == {"pdq": 20}
    assert client.get("/v1/banks", headers=h).json()[0]["name"] == "tvec"
    r = client.patch("/v1/banks/tvec", json={"enabled": False, "default_action": "review"}, headers=h)
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["default_action"] == "review"
    assert client.get("/v1/banks/tvec", headers=h).json()["enabled"] is False
    r = client.post("/v1/banks", json={"name": "tvec"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "bank_exists"
    assert client.delete("/v1/banks/tvec", headers=h).status_code == 204
    assert client.get("/v1/banks/tvec", headers=h).status_code == 404


def test_entry_is_idempotent_and_matchable_at_once(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "b"}, headers=h)
    value = random_pdq()
    r1 = client.post("/v1/banks/b/entries", json={"signal_type": "pdq", "value": value.upper(),
                                                  "labels": ["behaviour:glorification"]}, headers=h)
    assert r1.status_code == 201 and r1.json()["created"] is True
    assert r1.json()["value"] == value
    r2 = client.post("/v1/banks/b/entries", json={"signal_type": "pdq", "value": value}, headers=h)
    assert r2.status_code == 200 and r2.json()["id"] == r1.json()["id"] and r2.json()["created"] is False
    near = flip_bits(value, 10)
    r = client.get("/v1/lookup", params={"signal_type": "pdq", "value": near}, headers=auth(keys["submitter"]))
    assert r.status_code == 200
    matches = r.json()["matches"]
    assert [(m["bank"], m["entry_id"], m["distance"]) for m in matches] == [("b", r1.json()["id"], 10)]
    assert matches[0]["labels"] == ["behaviour:glorification"]
    far = flip_bits(value, 40)
    assert client.get("/v1/lookup", params={"signal_type": "pdq", "value": far},
                      headers=auth(keys["reviewer"])).json()["matches"] == []


def test_bank_threshold_and_enabled_flag_apply(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "strict", "thresholds": {"pdq": 8}}, headers=h)
    value = random_pdq()
    client.post("/v1/banks/strict/entries", json={"signal_type": "pdq", "value": value}, headers=h)
    q = {"signal_type": "pdq", "value": flip_bits(value, 12)}
    assert client.get("/v1/lookup", params=q, headers=h).json()["matches"] == []
    client.patch("/v1/banks/strict", json={"thresholds": {"pdq": 40}}, headers=h)
    assert len(client.get("/v1/lookup", params=q, headers=h).json()["matches"]) == 1
    client.patch("/v1/banks/strict", json={"enabled": False}, headers=h)
    assert client.get("/v1/lookup", params=q, headers=h).json()["matches"] == []


def test_delete_entry_and_bank_stop_matching(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "b"}, headers=h)
    md5 = secrets.token_hex(16)
    entry = client.post("/v1/banks/b/entries", json={"signal_type": "md5", "value": md5}, headers=h).json()
    q = {"signal_type": "md5", "value": md5}
    assert len(client.get("/v1/lookup", params=q, headers=h).json()["matches"]) == 1
    assert client.delete(f"/v1/banks/b/entries/{entry['id']}", headers=h).status_code == 204
    assert client.get("/v1/lookup", params=q, headers=h).json()["matches"] == []
    client.post("/v1/banks/b/entries", json={"signal_type": "md5", "value": md5}, headers=h)
    assert len(client.get("/v1/lookup", params=q, headers=h).json()["matches"]) == 1
    client.delete("/v1/banks/b", headers=h)
    assert client.get("/v1/lookup", params=q, headers=h).json()["matches"] == []


def test_import_export_text_is_idempotent(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "shared"}, headers=h)
    hashes = [random_pdq() for _ in range(300)]
    md5s = [secrets.token_hex(16) for _ in range(50)]
    body = "# shared list\n" + "".join(f"pdq {v}\n" for v in hashes) + "".join(f"md5 {v}\n" for v in md5s)
    body += "pdq nothex\nsha1 abcdef\nonly-one-field\n"
    r = client.post("/v1/banks/shared/import", content=body, headers={**h, "Content-Type": "text/plain"},
                    params={"source": "partner-a", "labels": "behaviour:recruitment"})
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (rep["added"], rep["duplicates"], rep["rejected"]) == (350, 0, 3)
    assert [x["line"] for x in rep["rejected_lines"]] == [352, 353, 354]
    assert "64 hexadecimal" in rep["rejected_lines"][0]["reason"]
    again = client.post("/v1/banks/shared/import", content=body, headers={**h, "Content-Type": "text/plain"}).json()
    assert (again["added"], again["duplicates"]) == (0, 350)
    exported = client.get("/v1/banks/shared/export", headers=h)
    assert exported.status_code == 200
    lines = exported.text.splitlines()
    assert sorted(lines) == sorted([f"pdq {v}" for v in hashes] + [f"md5 {v}" for v in md5s])
    # every imported hash is matchable immediately, with the labels given at import
    m = client.get("/v1/lookup", params={"signal_type": "pdq", "value": hashes[123]}, headers=h).json()["matches"]
    assert m and m[0]["labels"] == ["behaviour:recruitment"]


def test_import_strict_rejects_everything(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "s"}, headers=h)
    body = f"pdq {random_pdq()}\npdq {random_pdq()}\nmd5 xyz\n"
    r = client.post("/v1/banks/s/import", params={"strict": "true"}, content=body, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "import_rejected"
    assert r.json()["detail"][0]["line"] == 3
    assert client.get("/v1/banks/s", headers=h).json()["entry_count"] == 0


def test_tcap_csv_round_trip(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "tcap"}, headers=h)
    pdq, sha = random_pdq(), secrets.token_hex(32)
    csv_body = (
        "hash,algorithm,group,file_type,source_deleted,first_seen\n"
        f"{pdq},PDQ,violent-far-right,jpg,true,2024-03-01T10:00:00Z\n"
        f"{sha},SHA-256,Example Group,mp4,false,2023-12-24\n"
        f"{sha[:10]},sha256,,pdf,maybe,\n"
    )
    r = client.post("/v1/banks/tcap/import", params={"format": "tcap-csv"}, content=csv_body, headers=h)
    rep = r.json()
    assert (rep["added"], rep["rejected"]) == (2, 1), rep
    assert rep["rejected_lines"][0]["line"] == 4
    entries = client.get("/v1/banks/tcap/entries", headers=h).json()
    by_type = {e["signal_type"]: e for e in entries}
    assert by_type["pdq"]["labels"] == ["ideology:violent-far-right"]
    assert by_type["sha256"]["labels"] == ["group:example-group"]
    assert by_type["pdq"]["meta"] == {"file_type": "jpg", "source_deleted": True}
    assert by_type["pdq"]["first_seen"].startswith("2024-03-01T10:00:00")
    out = client.get("/v1/banks/tcap/export", params={"format": "tcap-csv"}, headers=h).text.splitlines()
    assert out[0] == "hash,algorithm,group,file_type,source_deleted,first_seen"
    assert any(line.startswith(f"{pdq},pdq,violent-far-right,jpg,true,2024-03-01T10:00:00") for line in out)


def test_entries_paging(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "p"}, headers=h)
    client.post("/v1/banks/p/import", content="".join(f"md5 {secrets.token_hex(16)}\n" for _ in range(25)),
                headers=h)
    first = client.get("/v1/banks/p/entries", params={"limit": 10}, headers=h).json()
    second = client.get("/v1/banks/p/entries", params={"limit": 10, "after": first[-1]["id"]}, headers=h).json()
    assert len(first) == 10 and len(second) == 10
    assert first[-1]["id"] < second[0]["id"]


def test_health_metrics_openapi(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "m"}, headers=h)
    client.post("/v1/banks/m/entries", json={"signal_type": "pdq", "value": random_pdq()}, headers=h)
    client.post("/v1/items", json={"content_id": "t1", "text": "hello"}, headers=h)
    metrics = client.get("/metrics").text
    assert 'seawall_index_entries{signal_type="pdq"} 1.0' in metrics
    assert 'seawall_items_total{content_type="text",verdict="allow"} 1.0' in metrics
    assert "seawall_index_memory_bytes" in metrics
    spec = client.get("/openapi.json").json()
    for path in ("/v1/items", "/v1/items/{item_id}", "/v1/banks", "/v1/banks/{name}", "/v1/banks/{name}/entries",
                 "/v1/banks/{name}/import", "/v1/banks/{name}/export", "/v1/lookup", "/healthz"):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
    assert "Seawall" in client.get("/").text


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_openapi_reference_resolves_from_the_document_root(client: TestClient) -> None:
    """Hand-written request bodies (the removal order's Annex I fields with nested locators) used to point at
    ``#/$defs/Locator``, which a client resolving against the document finds nowhere."""
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    refs = _refs(spec)
    assert refs and all(r.startswith("#/components/schemas/") for r in refs), \
        sorted({r for r in refs if not r.startswith("#/components/schemas/")})
    assert sorted({r.rsplit("/", 1)[1] for r in refs} - set(schemas)) == []
    body = spec["paths"]["/v1/removal-orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "$defs" not in str(body) and "Locator" in schemas
