"""Heavy parsing leaves the server process: rules documents and large JSON bodies go to a worker process.

A thread would keep such parsing off the event loop but not off the GIL, so /healthz and every other
request would still wait for it (see benchmarks/bench_hostile_requests.py). These tests check that the
worker really is another process and that the API answers exactly as before: valid rules list their
ids, invalid ones every error with its line, a large JSON item its verdict, a broken one a 422 sentence,
and a body over the limit a 413 that closes the connection instead of reading the rest.
"""

from __future__ import annotations

import asyncio
import json
import os

from fastapi.testclient import TestClient

from seawall.api import offload
from seawall.engine import Engine
from seawall.rules.language import MAX_YAML_NODES
from tests.conftest import auth

VALID = "version: 1\nrules:\n  - id: threat\n    when: {match: {bank_kind: block}}\n    then: [block]\n"


def test_worker_is_another_process_and_checks_rules() -> None:
    try:
        assert asyncio.run(offload.run(os.getpid)) != os.getpid()
        assert asyncio.run(offload.run(offload.check_rules, VALID)) == (["threat"], [])
        ids, errors = asyncio.run(offload.run(offload.check_rules, VALID + "  - id: threat\n    then: [explode]\n"))
        assert ids == [] and errors and all(isinstance(line, int) and line >= 1 for line, _ in errors)
    finally:
        offload.shutdown()


def test_rules_routes_answer_as_before(client: TestClient, keys: dict[str, str]) -> None:
    admin = {**auth(keys["admin"]), "content-type": "application/yaml"}
    ok = client.post("/v1/rules/validate", content=VALID, headers=admin)
    assert ok.status_code == 200 and ok.json() == {"valid": True, "rules": ["threat"]}
    wide = "version: 1\nrules:\n  - id: wide\n    then:\n      - webhook: {a: [" + \
        ",".join("1" for _ in range(MAX_YAML_NODES + 10)) + "]}\n"
    before = client.get("/v1/rules", headers=auth(keys["admin"])).json()["version"]
    refused = client.put("/v1/rules", content=wide, headers=admin)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_rules", refused.text
    assert "YAML values" in refused.json()["message"] and refused.json()["detail"][0]["line"] >= 1
    assert client.get("/v1/rules", headers=auth(keys["admin"])).json()["version"] == before  # nothing saved
    saved = client.put("/v1/rules", content=VALID, headers=admin)
    assert saved.status_code == 200 and [r["id"] for r in saved.json()["rules"]] == ["threat"], saved.text
    dry = client.post("/v1/rules/dry-run", headers=auth(keys["admin"]),
                      json={"source": "rules: [", "facts": {"content_type": "text"}})
    assert dry.status_code == 422 and dry.json()["code"] == "invalid_rules", dry.text


def test_large_json_items_are_parsed_in_a_worker(client: TestClient, engine: Engine, keys: dict[str, str]) -> None:
    submitter = {**auth(keys["submitter"]), "content-type": "application/json"}
    text = "an ordinary generated post " * 4_000  # ~108 KB: past the inline limit
    r = client.post("/v1/items", content=json.dumps({"content_id": "big", "text": text}), headers=submitter)
    assert r.status_code == 200 and r.json()["content_id"] == "big", r.text
    assert engine.items.get(r.json()["id"]).content_id == "big"
    bad = client.post("/v1/items", content=json.dumps({"content_id": "big", "text": text, "extra": 1}),
                      headers=submitter)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request", bad.text
    assert bad.json()["message"].startswith("extra:")
    huge = client.post("/v1/items", content=b'{"content_id": "huge", "text": "' + b"a" * 8_000_000 + b'"}',
                       headers=submitter)
    assert huge.status_code == 413 and huge.json()["code"] == "text_too_large"
    assert huge.headers["connection"] == "close"


def test_large_hash_list_imports_in_the_import_worker(client: TestClient, engine: Engine,
                                                      keys: dict[str, str]) -> None:
    """A hash list past the inline size is written by another process, then matchable here at once;
    a strict import with a bad line refuses the whole file with its code and rejected lines."""
    import random

    from seawall.api.routes.banks import OFFLOAD_IMPORT_BYTES

    admin = auth(keys["admin"])
    assert client.post("/v1/banks", json={"name": "bulk"}, headers=admin).status_code == 201
    rnd = random.Random(7)
    values = [f"{rnd.getrandbits(256):064x}" for _ in range(OFFLOAD_IMPORT_BYTES // 60)]
    body = "".join(f"pdq {v}\n" for v in values).encode()
    assert len(body) >= OFFLOAD_IMPORT_BYTES
    offload.shutdown()  # the pools are the process's: the import pool below is started by this import
    workers_before = set(offload._pools)
    r = client.post("/v1/banks/bulk/import?format=text&source=partner", content=body, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == len(values) and r.json()["lines_read"] == len(values)
    assert offload.IMPORT in offload._pools and offload.IMPORT not in workers_before
    found = client.get(f"/v1/lookup?signal_type=pdq&value={values[-1]}", headers=admin)
    assert found.status_code == 200 and found.json()["matches"], found.text  # the server's index has it
    again = client.post("/v1/banks/bulk/import?format=text", content=body, headers=admin)
    assert again.json()["added"] == 0 and again.json()["duplicates"] == len(values)

    strict = client.post("/v1/banks/bulk/import?format=text&strict=true",
                         content=body + b"pdq not-a-hash\n", headers=admin)
    assert strict.status_code == 422 and strict.json()["code"] == "import_rejected", strict.text
    assert strict.json()["detail"][0]["line"] == len(values) + 1
    assert client.get("/v1/banks/bulk", headers=admin).json()["entry_count"] == len(values)


def test_refusals_cross_the_process_boundary_whole() -> None:
    """A refusal raised in a worker keeps its class, code, status and detail (the API renders it as is)."""
    import pickle

    from seawall.errors import InvalidInput
    from seawall.rules.language import RuleError, RulesInvalid

    err = pickle.loads(pickle.dumps(InvalidInput("3 lines rejected", code="import_rejected", detail=[{"line": 3}])))
    assert type(err) is InvalidInput and err.to_dict() == {
        "code": "import_rejected", "message": "3 lines rejected", "detail": [{"line": 3}]}
    assert err.status == 422 and str(err) == "3 lines rejected"
    rules = pickle.loads(pickle.dumps(RulesInvalid([RuleError(3, "unknown action 'explode'")])))
    assert type(rules) is RulesInvalid and rules.errors == [RuleError(3, "unknown action 'explode'")]
    assert rules.code == "invalid_rules" and rules.detail == [{"line": 3, "message": "unknown action 'explode'"}]
