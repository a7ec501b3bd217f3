"""The OpenAPI document states the rules the routes check in code, and a request just outside them is
refused as before: the same status, code and sentence (``seawall.api.declared``).

The document used to be looser than the checks for 25 operations, so clients and the schema fuzz run
(``tests/test_fuzz_api.py``) could not know what is accepted. The patterns are also checked against the
functions that really decide: every string a pattern describes is accepted by its check.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import assume, given
from hypothesis import strategies as st

from seawall.api.declared import (
    ED25519_KEY,
    ISO_DATE_TIME,
    NAME_PATTERN,
    NAMES_KEY,
    SUSPEND,
    WEBHOOK_SECRET,
    WEBHOOK_URL,
    fill_registry_names,
    label_pattern,
)
from seawall.banks.service import _BANK_NAME
from seawall.legal.deadline import IMPOSSIBILITY
from seawall.legal.preservation import PURPOSES
from seawall.models.labels import validate_labels
from seawall.plugins import Registry, registry
from seawall.review.choices import reviewer_actions
from seawall.review.reports import categories
from seawall.sharing import feeds, sources
from seawall.sharing.signing import public_key_from
from seawall.webhooks.service import _check_secret

from .conftest import auth


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    """``node`` with its ``$ref`` followed (one level at a time, as a client reads it)."""
    while isinstance(node, dict) and "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _body(spec: dict[str, Any], method: str, path: str, ctype: str = "application/json") -> dict[str, Any]:
    op = spec["paths"][path][method]
    return dict(_resolve(spec, op["requestBody"]["content"][ctype]["schema"]))


def _prop(spec: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    return dict(_resolve(spec, _body(spec, method, path)["properties"][name]))


def _param(spec: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    op = spec["paths"][path][method]
    found = [p for p in op["parameters"] if p["name"] == name]
    assert found, f"{method} {path} declares no parameter {name}"
    return dict(found[0])


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/openapi.json").json()
    return doc


def test_document_declares_the_checked_rules(spec: dict[str, Any]) -> None:
    assert NAMES_KEY not in str(spec), "a registry mark was left in the document"
    reg = registry()
    assert _param(spec, "get", "/v1/lookup", "signal_type")["schema"]["enum"] == sorted(reg.signal_types)
    assert _param(spec, "get", "/v1/preservation/{item_id}", "purpose")["schema"]["enum"] == list(PURPOSES)
    report = "/v1/reports/transparency"
    assert _param(spec, "get", report, "format")["schema"]["enum"] == ["json", "html", "pdf"]
    assert _param(spec, "get", report, "from")["schema"]["pattern"] == ISO_DATE_TIME
    assert _param(spec, "get", report, "to")["schema"]["pattern"] == ISO_DATE_TIME
    assert _prop(spec, "post", "/v1/feeds", "name")["pattern"] == NAME_PATTERN
    assert _prop(spec, "post", "/v1/feeds", "partners")["items"]["pattern"] == NAME_PATTERN
    assert _prop(spec, "post", "/v1/feeds", "labels")["items"]["pattern"] == label_pattern()
    assert _prop(spec, "post", "/v1/feeds/{name}/partners", "name")["pattern"] == NAME_PATTERN
    assert _prop(spec, "patch", "/v1/feeds/{name}/partners/{partner}", "public_key")["pattern"] == ED25519_KEY
    assert _prop(spec, "post", "/v1/banks", "name")["pattern"] == NAME_PATTERN
    for method, path in (("post", "/v1/webhooks"), ("patch", "/v1/webhooks/{webhook_id}")):
        assert _prop(spec, method, path, "url")["pattern"] == WEBHOOK_URL
        assert _prop(spec, method, path, "event_types")["items"]["enum"] == sorted(reg.event_types)
    secret = _prop(spec, "post", "/v1/webhooks", "secret")
    assert {"type": "string", "pattern": WEBHOOK_SECRET} in secret["anyOf"]
    # a PATCH refuses null for every field it takes
    for path in ("/v1/webhooks/{webhook_id}", "/v1/banks/{name}"):
        assert "null" not in str(_body(spec, "patch", path)["properties"]), path
    profile = _body(spec, "post", "/v1/accounts/{account_id}/profile", "multipart/form-data")
    assert profile["properties"]["username"]["maxLength"] == 300 and len(profile["anyOf"]) == 2
    assert _prop(spec, "post", "/v1/appeals", "statement")["pattern"] == r"\S"
    # one form of hash entry per signal type, its value in the form that type takes
    forms = _resolve(spec, _body(spec, "post", "/v1/banks/{name}/entries")["oneOf"][0])["oneOf"]
    assert [f["properties"]["signal_type"]["const"] for f in forms] == sorted(reg.signal_types)
    patterns = {f["properties"]["signal_type"]["const"]: f["properties"]["value"].get("pattern") for f in forms}
    assert patterns["pdq"] == patterns["sha256"] == r"^\s*[0-9A-Fa-f]{64}\s*$" and patterns["url"] is None
    for op in ("take", "release", "reassign", "notes", "decide"):
        header = _param(spec, "post", f"/v1/cases/{{case_id}}/{op}", "X-Seawall-Reviewer")
        assert header["in"] == "header" and header["required"] is True
    decide = _body(spec, "post", "/v1/cases/{case_id}/decide")
    assert decide["properties"]["suspend"]["pattern"] == SUSPEND and "not" in decide
    actions = _prop(spec, "post", "/v1/items/{item_id}/actions", "actions")["items"]["anyOf"]
    assert actions[0]["enum"] == sorted(reg.action_types)
    impossible = _body(spec, "post", "/v1/removal-orders/{order_id}/impossible")
    assert impossible["properties"]["reason"]["enum"] == list(IMPOSSIBILITY) and "anyOf" in impossible
    reports = _body(spec, "post", "/v1/reports")
    assert reports["properties"]["category"]["enum"] == categories() and len(reports["oneOf"]) == 2
    assert len(_body(spec, "post", "/v1/rules/dry-run")["oneOf"]) == 2
    assert _body(spec, "post", "/v1/statements/validate")["type"] == "object"
    assert spec["paths"]["/v1/statements/validate"]["post"]["requestBody"]["required"] is True
    create = _body(spec, "post", "/v1/sources")
    assert create["required"] == ["name", "kind"] and create["properties"]["kind"]["enum"] == sorted(reg.exchanges)
    assert _body(spec, "patch", "/v1/sources/{name}")["additionalProperties"] is False


def test_registry_names_come_from_the_apps_registry() -> None:
    """A plugin's event type is subscribable, so the document built for its app lists it."""
    reg = Registry()
    reg.add_event_type("plugin.happened", "a plugin's own event")
    doc = {"a": [{"type": "string", NAMES_KEY: "event_types"}]}
    assert fill_registry_names(doc, reg) == {"a": [{"type": "string", "enum": ["plugin.happened"]}]}


def test_name_pattern_is_the_services_own() -> None:
    assert NAME_PATTERN == _BANK_NAME.pattern == feeds._NAME.pattern == sources._NAME.pattern


#: Signal types whose values have a declared form.
PATTERNED = sorted(name for name, sig in registry().signal_types.items() if sig.value_pattern)


def test_hash_signal_types_declare_their_form() -> None:
    assert {"md5", "sha256", "pdq", "pdq_crop", "tlsh", "text_sha256", "url_md5"} <= set(PATTERNED)


@given(st.sampled_from(PATTERNED).flatmap(
    lambda name: st.tuples(st.just(name), st.from_regex(registry().signal(name).value_pattern, fullmatch=True))))
def test_every_declared_signal_value_is_accepted(typed: tuple[str, str]) -> None:
    name, value = typed
    registry().signal(name).normalize(value)


@given(st.from_regex(WEBHOOK_SECRET, fullmatch=True))
def test_every_declared_webhook_secret_is_accepted(secret: str) -> None:
    assert _check_secret(secret).removeprefix("whsec_") == secret.removeprefix("whsec_")


def test_webhook_secret_pattern_refuses_what_the_check_refuses() -> None:
    for raw in ("A" * 30 + "==", "A" * 92, "whsec_" + "A" * 31, "not base64 at all"):
        assert re.fullmatch(WEBHOOK_SECRET, raw) is None, raw
        with pytest.raises(Exception, match="secret"):
            _check_secret(raw)


@given(st.from_regex(ED25519_KEY, fullmatch=True))
def test_every_declared_partner_key_is_accepted(key: str) -> None:
    public_key_from(key)


@given(st.from_regex(ISO_DATE_TIME, fullmatch=True))
def test_every_declared_date_is_read(when: str) -> None:
    month, day = int(when[5:7]), int(when[8:10])
    assume(day <= 28 or (month != 2 and day <= 30))  # the pattern states the form, not the calendar
    datetime.fromisoformat(when)


@given(st.from_regex(SUSPEND, fullmatch=True))
def test_every_declared_suspension_is_taken(suspend: str) -> None:
    reviewer_actions(registry(), "someone", suspend=suspend)


@given(st.from_regex(label_pattern(), fullmatch=True))
def test_every_declared_label_is_known(label: str) -> None:
    assert validate_labels([label]) == [label]


# --- just outside the declared rules: the refusal each route gave before they were declared --------------

def _h(key: str, **extra: str) -> dict[str, str]:
    return {**auth(key), **extra}


OUTSIDE: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    ("get", "/v1/lookup?signal_type=nope&value=00", {}, 422, "unknown_signal_type", "unknown signal type 'nope'"),
    ("get", "/v1/preservation/x?purpose=curiosity", {}, 422, "invalid_purpose",
     "purpose: one of administrative_review, judicial_review, complaint, investigation"),
    ("get", "/v1/reports/transparency?from=2026-01-01&to=2026-02-01&format=xml", {}, 422, "invalid_format",
     "format: json, html or pdf"),
    ("get", "/v1/reports/transparency?from=2026-13-01&to=2026-02-01", {}, 422, "invalid_field",
     "from: use a date such as 2026-01-01"),
    ("post", "/v1/feeds", {"json": {"name": "-bad", "banks": ["b"]}}, 422, "invalid_feed_name",
     "name: 1–100 letters, digits, '.', '_' or '-'"),
    ("post", "/v1/feeds", {"json": {"name": "f", "banks": ["b"], "partners": ["a b"]}}, 422, "invalid_partner",
     "partners: names of 1–100 letters, digits, '.', '_' or '-'"),
    ("post", "/v1/webhooks", {"json": {"url": "ftp://example.org/h", "event_types": ["item.verdict"]}}, 422,
     "invalid_webhook_url", "url: must start with https:// or http://"),
    ("post", "/v1/webhooks", {"json": {"url": "https://93.184.215.14/h", "event_types": ["item.verdict"],
                                       "secret": "whsec_" + "A" * 31}}, 422,
     "invalid_field", "secret: must be whsec_ followed by base64"),
    ("post", "/v1/webhooks", {"json": {"url": "https://93.184.215.14/h", "event_types": ["no.such"]}}, 422,
     "unknown_event_type", "event_types: unknown no.such"),
    ("patch", "/v1/webhooks/1", {"json": {"enabled": None}}, 422, "invalid_field", "enabled: may not be null"),
    ("patch", "/v1/banks/b", {"json": {"labels": None}}, 422, "invalid_field", "labels: may not be null"),
    ("post", "/v1/banks", {"json": {"name": "has space"}}, 422, "invalid_bank_name", "name: a bank name is"),
    ("post", "/v1/banks", {"json": {"name": "b2", "labels": ["behaviour:nope"]}}, 422, "invalid_label",
     "labels: unknown behaviour 'nope'"),
    ("post", "/v1/banks/b/entries", {"json": {"signal_type": "nope", "value": "00"}}, 422, "unknown_signal_type",
     "unknown signal type 'nope'"),
    ("post", "/v1/banks/b/entries", {"json": {"signal_type": "pdq", "value": "0" * 63}}, 422, "invalid_signal_value",
     "pdq must be 64 hexadecimal characters (256 bits)"),
    ("post", "/v1/accounts/acct/profile", {"data": {"username": "", "display_name": ""}}, 422, "missing_field",
     "send a 'username' and/or 'display_name'"),
    ("post", "/v1/accounts/acct/profile", {"data": {"username": "u" * 301}}, 422, "invalid_field",
     "username: at most 300 characters"),
    ("post", "/v1/appeals", {"json": {"item_id": "x", "statement": "   "}}, 422, "invalid_field",
     "statement: 1 to 10000 characters in the user's own words"),
    ("post", "/v1/cases/1/take", {}, 422, "reviewer_required",
     "send the console user this call acts for in the X-Seawall-Reviewer header"),
    ("post", "/v1/cases/1/notes", {"json": {"text": "n"}, "headers": {"X-Seawall-Reviewer": "  "}}, 422,
     "reviewer_required", "send the console user this call acts for in the X-Seawall-Reviewer header"),
    ("post", "/v1/removal-orders/1/impossible", {"json": {"reason": "bored", "explanation": "e"}}, 422,
     "invalid_reason", "reason: one of force_majeure, manifest_errors, insufficient_information"),
    ("post", "/v1/removal-orders/1/impossible",
     {"json": {"reason": "manifest_errors", "explanation": "e", "clarification": " "}}, 422, "invalid_field",
     "clarification: say which errors or what information the authority must send"),
    ("post", "/v1/reports", {"json": {"item_id": "x", "category": "rudeness"}}, 422, "invalid_category",
     "category: one of "),
    ("post", "/v1/reports", {"json": {"item_id": "x", "content_id": "y", "category": "other"}}, 422,
     "invalid_request", "give either item_id or content_id"),
    ("post", "/v1/rules/dry-run", {"json": {}}, 422, "invalid_request", "give either item_id or facts"),
    ("post", "/v1/statements/validate", {"content": b"[]", "headers": {"content-type": "application/json"}}, 422,
     "invalid_request", "the body must be one statement (a JSON object)"),
    ("post", "/v1/sources", {"json": {"name": "s", "kind": "carrier-pigeon"}}, 422, "unknown_exchange",
     "kind: unknown exchange 'carrier-pigeon'"),
    ("post", "/v1/sources", {"json": {"name": "-s", "kind": "file"}}, 422, "invalid_source_name",
     "name: 1–100 letters, digits, '.', '_' or '-'"),
    ("patch", "/v1/sources/s", {"json": {"colour": "red"}}, 422, "invalid_field", "cannot change colour"),
]


@pytest.mark.parametrize(("method", "path", "kw", "status", "code", "message"), OUTSIDE,
                         ids=[f"{m} {p} {c}" for m, p, _, _, c, _ in OUTSIDE])
def test_request_just_outside_the_document_gets_the_documented_refusal(
        client: TestClient, keys: dict[str, str], method: str, path: str, kw: dict[str, Any], status: int,
        code: str, message: str) -> None:
    h = auth(keys["admin"])
    client.post("/v1/banks", json={"name": "b"}, headers=h)
    r = client.request(method.upper(), path, **{**kw, "headers": {**h, **kw.get("headers", {})}})
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["message"].startswith(message), body
    # the document names this answer for the operation
    declared = client.get("/openapi.json").json()["paths"]
    template = next(p for p in declared if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path.split("?")[0]))
    assert {str(status), "4XX"} & set(declared[template][method]["responses"])


def test_later_action_outside_the_registry_is_refused(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["admin"])
    item = client.post("/v1/items", json={"content_id": "c1", "text": "an ordinary post"}, headers=h).json()
    r = client.post(f"/v1/items/{item['id']}/actions", json={"actions": ["explode"]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_action", r.text
    assert r.json()["message"].startswith("unknown action 'explode'; known: ")
    assert "explode" not in client.get("/openapi.json").json()["components"]["schemas"]["LaterDecision"][
        "properties"]["actions"]["items"]["anyOf"][0]["enum"]
