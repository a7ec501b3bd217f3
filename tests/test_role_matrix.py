"""Who may call what: every route the app serves, every caller, one table.

The routes are read from the app's own route table (API, console, system and documentation routes), so
a route added anywhere without a line in ``EXPECTED`` fails this test until someone decides who may call
it. API keys have three roles (submitter, reviewer, admin; there is no senior key); console users have
three (reviewer, senior, admin). Senior-queue cases are probed on their own: they need a senior in the
console and an admin key in the API.

Callers: nobody (no credentials), an API key of each role, a feed partner's token, and a signed-in
console user of each role. An API route answers 401 to a caller without an API key and 403 to a key of
the wrong role; a console page sends a caller without a session to the login page (303) and answers a
user below its role with 403. Allowed callers get the probe's own status: the probes are chosen so that
they pass the role check but change nothing (unknown names, invalid bodies, read-only calls).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from seawall.api.app import create_app
from seawall.composition import build_engine, review_service
from seawall.config import Settings
from seawall.review.context import entry_thumbnail
from seawall.review.shield import MAX_SIDE
from seawall.review.users import ConsoleUsers
from seawall.sharing.feedback_signing import signed_feedback
from seawall.sharing.signing import public_text
from seawall.store.tables import BankEntryMediaRow

from .console_support import PASSWORD, csrf_of, held_image
from .legal_support import order_body, post_text_item

KEY_ROLES = ("admin", "submitter", "reviewer")
CONSOLE_ROLES = ("reviewer", "senior", "admin")
ACTORS = ("anonymous", *(f"key:{r}" for r in KEY_ROLES), "partner", *(f"console:{r}" for r in CONSOLE_ROLES))
NOWHERE = 999_999_999
FEEDBACK_BODY = json.dumps({"opinions": []}).encode()


@dataclass(frozen=True)
class Probe:
    """One request and the status an allowed caller gets.

    ``keys``: API key roles admitted (admin is always admitted); ``console``: the lowest console role
    admitted; ``partner``: only a feed partner's token is admitted; ``open``: every caller gets ``ok``
    (probes, scrapers, documentation, the sign-in page). ``csrf`` replaces the session's form token.
    """

    path: str
    ok: int
    keys: tuple[str, ...] = ()
    console: str | None = None
    partner: bool = False
    open: bool = False
    csrf: str | None = None
    json_body: Any = None
    content: bytes | None = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def api(path: str, ok: int, *roles: str, **kw: Any) -> Probe:
    return Probe(path, ok, keys=roles, **kw)


def page(path: str, ok: int, role: str, **kw: Any) -> Probe:
    return Probe(path, ok, console=role, **kw)


def anyone(path: str, ok: int, **kw: Any) -> Probe:
    return Probe(path, ok, open=True, **kw)


#: The console user a case route acts for (its console role applies on top of the key's role).
AS_SENIOR = {"X-Seawall-Reviewer": "matrix-senior"}


#: (method, route path) → probes. Paths use the fixture's objects: feed ``outbound``, source ``local``,
#: removal order {order}, preserved item {item}, bank ``tvec``, webhook {hook}, account ``acct-7``, a
#: standard case {std} about item {std_item} and a senior-queue case {sen} about item {sen_item}.
EXPECTED: dict[tuple[str, str], list[Probe]] = {
    # --- open: probes, scrapers, documentation, landing page, sign-in ---
    ("GET", "/healthz"): [anyone("/healthz", 200)],
    ("GET", "/readyz"): [anyone("/readyz", 200)],
    ("GET", "/metrics"): [anyone("/metrics", 200)],
    ("GET", "/"): [anyone("/", 200)],
    ("GET", "/docs"): [anyone("/docs", 200)],
    ("GET", "/openapi.json"): [anyone("/openapi.json", 200)],
    ("GET", "/console/login"): [anyone("/console/login", 200)],
    ("POST", "/console/login"): [anyone("/console/login", 403, form={"username": "x", "password": "y"})],  # no CSRF
    ("GET", "/console"): [anyone("/console", 303)],
    ("GET", "/console/"): [anyone("/console/", 303)],
    # --- items and lookups ---
    ("POST", "/v1/items"): [api("/v1/items", 422, "submitter", json_body={})],
    ("GET", "/v1/items"): [api("/v1/items?content_id=post-abc123", 200, "submitter", "reviewer")],
    ("GET", "/v1/items/{item_id}"): [api("/v1/items/{item}", 200, "submitter", "reviewer")],
    ("GET", "/v1/items/{item_id}/content"): [api("/v1/items/{std_item}/content", 200, "reviewer"),
                                             api("/v1/items/{sen_item}/content", 200)],
    ("POST", "/v1/items/{item_id}/actions"): [
        api("/v1/items/nowhere/actions", 404, "reviewer", json_body={"actions": ["remove"]}),
        api("/v1/items/{sen_item}/actions", 422, json_body={"actions": [{"explode": 1}]})],
    ("GET", "/v1/items/{item_id}/decisions"): [api("/v1/items/{item}/decisions", 200, "submitter", "reviewer")],
    ("GET", "/v1/lookup"): [api("/v1/lookup?signal_type=md5&value=" + "0" * 32, 200, "submitter", "reviewer")],
    # --- banks (read: reviewer; change: admin) ---
    ("GET", "/v1/banks"): [api("/v1/banks", 200, "reviewer")],
    ("POST", "/v1/banks"): [api("/v1/banks", 422, json_body={"name": ""})],
    ("GET", "/v1/banks/{name}"): [api("/v1/banks/tvec", 200, "reviewer")],
    ("PATCH", "/v1/banks/{name}"): [api("/v1/banks/nowhere", 404, json_body={"enabled": False})],
    ("DELETE", "/v1/banks/{name}"): [api("/v1/banks/nowhere", 404)],
    ("GET", "/v1/banks/{name}/entries"): [api("/v1/banks/tvec/entries", 200, "reviewer")],
    ("POST", "/v1/banks/{name}/entries"): [api("/v1/banks/nowhere/entries", 404,
                                               json_body={"signal_type": "md5", "value": "0" * 32})],
    ("GET", "/v1/banks/{name}/entries/{entry_id}"): [api(f"/v1/banks/tvec/entries/{NOWHERE}", 404, "reviewer")],
    ("DELETE", "/v1/banks/{name}/entries/{entry_id}"): [api(f"/v1/banks/tvec/entries/{NOWHERE}", 404)],
    ("POST", "/v1/banks/{name}/import"): [api("/v1/banks/nowhere/import?format=hashes", 404, content=b"")],
    ("GET", "/v1/banks/{name}/export"): [api("/v1/banks/tvec/export", 200, "reviewer")],
    ("POST", "/v1/banks/{name}/rehash"): [api("/v1/banks/nowhere/rehash", 404, json_body={})],
    # --- rules (admin; crisis mode readable by reviewers) ---
    ("GET", "/v1/rules"): [api("/v1/rules", 200)],
    ("PUT", "/v1/rules"): [api("/v1/rules", 422, content=b"rules: [")],
    ("POST", "/v1/rules/validate"): [api("/v1/rules/validate", 422, content=b"rules: [")],
    ("GET", "/v1/rules/history"): [api("/v1/rules/history", 200)],
    ("POST", "/v1/rules/dry-run"): [api("/v1/rules/dry-run", 422, json_body={})],
    ("GET", "/v1/rules/crisis-mode"): [api("/v1/rules/crisis-mode", 200, "reviewer")],
    ("PUT", "/v1/rules/crisis-mode"): [api("/v1/rules/crisis-mode", 422, json_body={})],
    # --- webhooks (admin) ---
    ("GET", "/v1/webhooks/event-types"): [api("/v1/webhooks/event-types", 200)],
    ("POST", "/v1/webhooks"): [api("/v1/webhooks", 422, json_body={})],
    ("GET", "/v1/webhooks"): [api("/v1/webhooks", 200)],
    ("GET", "/v1/webhooks/{webhook_id}"): [api("/v1/webhooks/{hook}", 200)],
    ("PATCH", "/v1/webhooks/{webhook_id}"): [api(f"/v1/webhooks/{NOWHERE}", 404, json_body={"enabled": True})],
    ("DELETE", "/v1/webhooks/{webhook_id}"): [api(f"/v1/webhooks/{NOWHERE}", 404)],
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): [api("/v1/webhooks/{hook}/deliveries", 200)],
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): [
        api(f"/v1/webhooks/{NOWHERE}/deliveries/{NOWHERE}/redeliver", 404)],
    # --- accounts, profiles, appeals, reports (the platform files; reviewers read) ---
    ("GET", "/v1/accounts/{account_id}"): [api("/v1/accounts/acct-7", 200, "submitter", "reviewer")],
    ("POST", "/v1/accounts/{account_id}/appeal"): [api("/v1/accounts/acct-7/appeal", 422, "submitter",
                                                       json_body={})],
    ("POST", "/v1/accounts/{account_id}/profile"): [api("/v1/accounts/acct-7/profile", 415, "submitter",
                                                        json_body={"username": "x"})],  # forms only
    ("GET", "/v1/accounts/{account_id}/reappearance"): [api("/v1/accounts/acct-7/reappearance", 200,
                                                            "submitter", "reviewer")],
    ("POST", "/v1/appeals"): [api("/v1/appeals", 404, "submitter", json_body={"item_id": "nope", "statement": "x"})],
    ("GET", "/v1/appeals/{appeal_id}"): [api(f"/v1/appeals/{NOWHERE}", 404, "submitter", "reviewer")],
    ("POST", "/v1/reports"): [api("/v1/reports", 422, "submitter", json_body={})],
    # --- operations (admin) ---
    ("GET", "/v1/work-queue"): [api("/v1/work-queue", 200)],
    ("GET", "/v1/work-queue/dead-letters"): [api("/v1/work-queue/dead-letters", 200)],
    ("GET", "/v1/queue"): [api("/v1/queue", 200)],
    ("GET", "/v1/queue/dead-letters"): [api("/v1/queue/dead-letters", 200)],
    ("GET", "/v1/retro"): [api("/v1/retro", 200)],
    ("POST", "/v1/retro/run"): [api("/v1/retro/run", 422, json_body={"bogus": 1})],
    ("GET", "/v1/plugins"): [api("/v1/plugins", 200)],
    # --- cases (reviewer keys: standard queue only; senior-queue cases need an admin key) ---
    ("GET", "/v1/cases"): [api("/v1/cases", 200, "reviewer"), api("/v1/cases?queue=senior", 200)],
    ("GET", "/v1/cases/{case_id}"): [api("/v1/cases/{std}", 200, "reviewer"), api("/v1/cases/{sen}", 200)],
    ("POST", "/v1/cases/{case_id}/take"): [api(f"/v1/cases/{NOWHERE}/take", 404, "reviewer", headers=AS_SENIOR)],
    ("POST", "/v1/cases/{case_id}/release"): [api(f"/v1/cases/{NOWHERE}/release", 404, "reviewer",
                                                  headers=AS_SENIOR)],
    ("POST", "/v1/cases/{case_id}/reassign"): [api(f"/v1/cases/{NOWHERE}/reassign", 404, "reviewer",
                                                   headers=AS_SENIOR, json_body={"assignee": "matrix-senior"})],
    ("POST", "/v1/cases/{case_id}/notes"): [
        api(f"/v1/cases/{NOWHERE}/notes", 404, "reviewer", headers=AS_SENIOR, json_body={"text": "x"}),
        api("/v1/cases/{sen}/notes", 201, headers=AS_SENIOR, json_body={"text": "matrix"})],
    ("POST", "/v1/cases/{case_id}/decide"): [api(f"/v1/cases/{NOWHERE}/decide", 404, "reviewer", headers=AS_SENIOR,
                                                 json_body={"outcome": "not_violating"})],
    # --- console: review (reviewer; senior queue, exposure: senior; audit and administration: admin) ---
    ("POST", "/console/logout"): [page("/console/logout", 403, "reviewer", form={}, csrf="wrong")],
    ("GET", "/console/queue"): [page("/console/queue", 200, "reviewer"),
                                page("/console/queue?queue=senior", 200, "senior")],
    ("GET", "/console/cases/{case_id}"): [page("/console/cases/{std}", 200, "reviewer"),
                                          page("/console/cases/{sen}", 200, "senior")],
    ("GET", "/console/cases/{case_id}/media"): [page("/console/cases/{std}/media", 200, "reviewer"),
                                                page("/console/cases/{sen}/media", 200, "senior")],
    ("POST", "/console/cases/{case_id}/reveal"): [page(f"/console/cases/{NOWHERE}/reveal", 404, "reviewer", form={})],
    ("GET", "/console/reveals/{token}"): [page("/console/reveals/nope", 404, "reviewer")],
    ("GET", "/console/reveals/{token}/entries/{entry_id}"): [page("/console/reveals/nope/entries/1", 404,
                                                                  "reviewer")],
    ("GET", "/console/entries/{entry_id}/thumbnail"): [page(f"/console/entries/{NOWHERE}/thumbnail", 404,
                                                            "reviewer")],
    ("GET", "/console/accounts/{account_id}"): [page("/console/accounts/acct-7", 200, "reviewer")],
    ("GET", "/console/exposure"): [page("/console/exposure", 200, "senior")],
    ("POST", "/console/cases/{case_id}/take"): [page(f"/console/cases/{NOWHERE}/take", 404, "reviewer", form={})],
    ("POST", "/console/cases/{case_id}/release"): [page(f"/console/cases/{NOWHERE}/release", 404, "reviewer",
                                                        form={})],
    ("POST", "/console/cases/{case_id}/reassign"): [page(f"/console/cases/{NOWHERE}/reassign", 404, "senior",
                                                         form={"assignee": "matrix-senior"})],
    ("POST", "/console/cases/{case_id}/notes"): [page(f"/console/cases/{NOWHERE}/notes", 404, "reviewer",
                                                      form={"text": "x"}),
                                                 page("/console/cases/{sen}/notes", 303, "senior",
                                                      form={"text": "matrix"})],
    ("POST", "/console/cases/{case_id}/decide"): [page(f"/console/cases/{NOWHERE}/decide", 404, "reviewer",
                                                       form={"outcome": "not_violating"})],
    ("POST", "/console/cases/{case_id}/appeal"): [page(f"/console/cases/{NOWHERE}/appeal", 404, "senior",
                                                       form={"outcome": "upheld"})],
    ("GET", "/console/audit"): [page("/console/audit", 200, "admin")],
    ("GET", "/console/audit.csv"): [page("/console/audit.csv", 200, "admin")],
    ("GET", "/console/dashboard"): [page("/console/dashboard", 200, "reviewer")],
    ("GET", "/console/preferences"): [page("/console/preferences", 200, "reviewer")],
    ("POST", "/console/preferences"): [page("/console/preferences", 422, "reviewer", form={"shield": "x-ray"})],
    ("GET", "/console/admin/users"): [page("/console/admin/users", 200, "admin")],
    ("POST", "/console/admin/users"): [page("/console/admin/users", 422, "admin",
                                            form={"username": "", "password": "", "role": "reviewer"})],
    ("POST", "/console/admin/users/{username}"): [page("/console/admin/users/nobody", 404, "admin",
                                                       form={"role": "senior"})],
    ("GET", "/console/admin/keys"): [page("/console/admin/keys", 200, "admin")],
    # --- sharing: sources (admin only) ---
    ("POST", "/v1/sources"): [api("/v1/sources", 422, "admin", json_body={"name": "x", "kind": "nope"})],
    ("GET", "/v1/sources"): [api("/v1/sources", 200, "admin")],
    ("GET", "/v1/sources/{name}"): [api("/v1/sources/local", 200, "admin")],
    ("PATCH", "/v1/sources/{name}"): [api("/v1/sources/local", 422, "admin", json_body={"action": "explode"})],
    ("DELETE", "/v1/sources/{name}"): [api("/v1/sources/nowhere", 404, "admin")],
    ("POST", "/v1/sources/{name}/sync"): [api("/v1/sources/nowhere/sync", 404, "admin")],
    ("POST", "/v1/sources/{name}/push"): [api("/v1/sources/nowhere/push", 404, "admin")],
    # --- sharing: feeds and partners (admin), pages and feedback (partner token) ---
    ("POST", "/v1/feeds"): [api("/v1/feeds", 404, "admin", json_body={"name": "y", "banks": ["nowhere"]})],
    ("GET", "/v1/feeds"): [api("/v1/feeds", 200, "admin")],
    ("GET", "/v1/feeds/{name}"): [api("/v1/feeds/outbound", 200, "admin")],
    ("DELETE", "/v1/feeds/{name}"): [api("/v1/feeds/nowhere", 404, "admin")],
    ("POST", "/v1/feeds/{name}/partners"): [api("/v1/feeds/nowhere/partners", 404, "admin",
                                                json_body={"name": "p"})],
    ("PATCH", "/v1/feeds/{name}/partners/{partner}"): [api("/v1/feeds/nowhere/partners/p", 404, "admin",
                                                           json_body={"public_key": None})],
    ("DELETE", "/v1/feeds/{name}/partners/{partner}"): [api("/v1/feeds/nowhere/partners/p", 404, "admin")],
    ("GET", "/v1/feeds/{name}/feedback"): [api("/v1/feeds/outbound/feedback", 200, "admin")],
    ("GET", "/v1/feeds/{name}/entries"): [Probe("/v1/feeds/outbound/entries", 200, partner=True)],
    ("GET", "/v1/feeds/{name}/events"): [Probe("/v1/feeds/outbound/events?seconds=1", 200, partner=True)],
    # the fixture's feed takes no contributions: its partner is let in and told so (403)
    ("POST", "/v1/feeds/{name}/contributions"): [Probe("/v1/feeds/outbound/contributions", 403, partner=True,
                                                       json_body={"entries": []})],
    ("POST", "/v1/feeds/{name}/feedback"): [Probe("/v1/feeds/outbound/feedback", 200, partner=True,
                                                  content=FEEDBACK_BODY)],
    # --- sharing: console ---
    ("GET", "/console/admin/sources"): [page("/console/admin/sources", 200, "admin")],
    ("POST", "/console/admin/sources/{name}"): [page("/console/admin/sources/local", 422, "admin",
                                                     form={"do": "explode"})],
    ("POST", "/console/admin/sources/{name}/push"): [page("/console/admin/sources/nowhere/push", 404, "admin",
                                                          form={})],
    # --- banks in the console (leads browse read-only; admins change) ---
    ("GET", "/console/banks"): [page("/console/banks", 200, "senior")],
    ("GET", "/console/admin/banks"): [page("/console/admin/banks", 200, "admin")],
    ("POST", "/console/admin/banks"): [page("/console/admin/banks", 422, "admin", form={"name": "bad name!"})],
    ("GET", "/console/banks/{name}"): [page("/console/banks/tvec?q=abc", 200, "senior")],
    ("POST", "/console/admin/banks/{name}"): [page("/console/admin/banks/tvec", 422, "admin", form={"do": "explode"})],
    ("POST", "/console/admin/banks/{name}/entries"): [page("/console/admin/banks/tvec/entries", 422, "admin",
                                                           form={"by": "nothing"})],
    ("POST", "/console/admin/banks/{name}/import"): [page("/console/admin/banks/tvec/import", 422, "admin",
                                                          form={"format": "text"})],
    ("GET", "/console/admin/banks/{name}/imports/{job_id}"): [page("/console/admin/banks/tvec/imports/none", 404,
                                                                   "admin")],
    ("GET", "/console/banks/{name}/entries/{entry_id}"): [page(f"/console/banks/tvec/entries/{NOWHERE}", 404,
                                                               "senior")],
    ("POST", "/console/admin/banks/{name}/entries/{entry_id}/delete"): [
        page(f"/console/admin/banks/tvec/entries/{NOWHERE}/delete", 404, "admin", form={"reason": "not there"})],
    # --- a reviewer's own saved queue views (any console user; each sees only their own) ---
    ("GET", "/console/views"): [page("/console/views", 200, "reviewer")],
    ("POST", "/console/views"): [page("/console/views", 422, "reviewer", form={"name": ""})],
    ("GET", "/console/views/{view_id}"): [page(f"/console/views/{NOWHERE}", 404, "reviewer")],
    ("POST", "/console/views/{view_id}/delete"): [page(f"/console/views/{NOWHERE}/delete", 404, "reviewer",
                                                       form={})],
    ("POST", "/console/admin/sources"): [page("/console/admin/sources", 422, "admin",
                                              form={"name": "bad name!", "kind": "file"})],
    ("POST", "/console/admin/feeds"): [page("/console/admin/feeds", 404, "admin",
                                            form={"name": "y", "banks": "nowhere"})],
    ("POST", "/console/admin/feeds/{name}/partners"): [page("/console/admin/feeds/nowhere/partners", 404, "admin",
                                                            form={"do": "remove", "partner": "p"})],
    # --- legal: removal orders (intake: submitter; handling: submitter and reviewer; reversal: admin) ---
    ("POST", "/v1/removal-orders"): [api("/v1/removal-orders", 422, "submitter", content=b"not json")],
    ("POST", "/v1/removal-orders/parse-text"): [api("/v1/removal-orders/parse-text", 200, "submitter", "reviewer",
                                                    json_body={"text": "Reference: R-1"})],
    ("GET", "/v1/removal-orders"): [api("/v1/removal-orders", 200, "submitter", "reviewer")],
    ("GET", "/v1/removal-orders/{order_id}"): [api("/v1/removal-orders/{order}", 200, "submitter", "reviewer")],
    ("POST", "/v1/removal-orders/{order_id}/execute"): [
        api(f"/v1/removal-orders/{NOWHERE}/execute", 404, "submitter", "reviewer", json_body={})],
    ("POST", "/v1/removal-orders/{order_id}/removed"): [
        api(f"/v1/removal-orders/{NOWHERE}/removed", 404, "submitter", "reviewer")],
    ("POST", "/v1/removal-orders/{order_id}/impossible"): [
        api(f"/v1/removal-orders/{NOWHERE}/impossible", 404, "submitter", "reviewer",
            json_body={"reason": "force_majeure", "explanation": "x"})],
    ("POST", "/v1/removal-orders/{order_id}/resume"): [
        api(f"/v1/removal-orders/{NOWHERE}/resume", 404, "submitter", "reviewer", json_body={})],
    ("POST", "/v1/removal-orders/{order_id}/reverse"): [
        api(f"/v1/removal-orders/{NOWHERE}/reverse", 404, json_body={"decided_by": "x"})],
    ("GET", "/v1/removal-orders/{order_id}/annex-ii"): [
        api("/v1/removal-orders/{order}/annex-ii", 200, "submitter", "reviewer")],
    ("GET", "/v1/removal-orders/{order_id}/annex-iii"): [
        api("/v1/removal-orders/{order}/annex-iii", 404, "submitter", "reviewer")],  # none: it was executed
    # --- legal: preservation, notices, complaints ---
    ("GET", "/v1/preservation/{item_id}"): [api("/v1/preservation/{item}?purpose=investigation", 200, "reviewer")],
    ("POST", "/v1/preservation/{item_id}/extend"): [
        api("/v1/preservation/nowhere/extend", 404, json_body={"until": "2027-01-01T00:00:00+00:00",
                                                               "requested_by": "court"})],
    ("GET", "/v1/uploader-notices"): [api("/v1/uploader-notices?item_id={item}", 200, "submitter", "reviewer")],
    ("GET", "/v1/complaints"): [api("/v1/complaints", 200, "reviewer")],
    # --- legal: statements of reasons and transparency ---
    ("GET", "/v1/statements"): [api("/v1/statements", 200, "submitter", "reviewer")],
    ("GET", "/v1/statements/export"): [api("/v1/statements/export", 200)],
    ("POST", "/v1/statements/submit"): [api("/v1/statements/submit?dry_run=true", 200)],
    ("POST", "/v1/statements/validate"): [api("/v1/statements/validate", 422, "submitter", "reviewer",
                                              content=b"not json")],
    ("GET", "/v1/statements/{statement_id}"): [api(f"/v1/statements/{NOWHERE}", 404, "submitter", "reviewer")],
    ("GET", "/v1/reports/transparency"): [api("/v1/reports/transparency?from=2026-01-01&to=2027-01-01", 200)],
    # --- legal: console pages (reviewers handle orders; seniors reverse; admins see the transparency report) ---
    ("GET", "/console/removal-orders"): [page("/console/removal-orders", 200, "reviewer")],
    ("POST", "/console/removal-orders"): [page("/console/removal-orders", 422, "reviewer",
                                               form={"issued_at": "not a time"})],
    ("POST", "/console/removal-orders/parse"): [page("/console/removal-orders/parse", 200, "reviewer",
                                                     form={"text": "Reference: R-1"})],
    ("GET", "/console/removal-orders/{order_id}"): [page("/console/removal-orders/{order}", 200, "reviewer")],
    ("POST", "/console/removal-orders/{order_id}/{action}"): [
        page(f"/console/removal-orders/{NOWHERE}/removed", 404, "reviewer", form={}),
        page(f"/console/removal-orders/{NOWHERE}/reverse", 404, "senior", form={"decided_by": "x"}),
    ],
    ("GET", "/console/removal-orders/{order_id}/annex-{which}.pdf"): [
        page("/console/removal-orders/{order}/annex-ii.pdf", 200, "reviewer")],
    ("GET", "/console/transparency"): [page("/console/transparency?from=2026-01-01&to=2027-01-01", 200, "admin")],
    ("GET", "/console/transparency.pdf"): [page("/console/transparency.pdf?from=2026-01-01&to=2027-01-01", 200,
                                                "admin")],
    # --- review quality: second reviews and agreement ---
    ("GET", "/v1/quality/agreement"): [api("/v1/quality/agreement", 200, "reviewer"),
                                       api("/v1/quality/agreement?days=0", 422, "reviewer")],
    ("GET", "/console/second-reviews"): [page("/console/second-reviews", 200, "reviewer")],
    ("GET", "/console/second-reviews/{review_id}"): [page(f"/console/second-reviews/{NOWHERE}", 404, "reviewer")],
    ("POST", "/console/second-reviews/{review_id}"): [
        page(f"/console/second-reviews/{NOWHERE}", 422, "reviewer", form={"outcome": "maybe"}),
        page(f"/console/second-reviews/{NOWHERE}", 404, "reviewer", form={"outcome": "not_violating"})],
}


def served_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (static files are a mount, not a route)."""
    out: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if route.endpoint is None:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                out.add((method, str(route.path)))
    return out


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]
    partner_token: str
    order: int
    item: str
    ids: dict[str, str | int]
    partner_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    sessions: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)


#: Hundreds of requests from one address in a few seconds: the address and key limits are not under test here.
UNLIMITED = {"rate_limit_key_per_second": 100_000.0, "rate_limit_key_burst": 100_000,
             "rate_limit_address_per_second": 100_000.0, "rate_limit_address_burst": 100_000,
             "login_rate_per_minute": 100_000.0, "login_rate_burst": 100_000,
             "auth_failures_per_second": 100_000.0, "auth_failures_burst": 100_000}


@pytest.fixture
def world(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("SEAWALL_LEGAL_TICK_SECONDS", "3600")
    monkeypatch.setenv("SEAWALL_LEGAL_PROVIDER_NAME", "Example Hosting Ltd")
    monkeypatch.setenv("SEAWALL_LEGAL_ESTABLISHMENT_STATE", "IE")
    monkeypatch.setenv("SEAWALL_LEGAL_AUTHORISED_PERSON", "A. Compliance")
    monkeypatch.setenv("SEAWALL_LEGAL_CONTACT_EMAIL", "tco@hosting.example")
    eng = build_engine(settings.model_copy(update={**UNLIMITED, "webhook_allow_hosts": "127.0.0.1"}))
    try:
        keys = {role: eng.api_keys.create(role, f"matrix-{role}")[0] for role in KEY_ROLES}
        users = ConsoleUsers(eng.db)
        for role in CONSOLE_ROLES:
            users.create(f"matrix-{role}", PASSWORD, role)
        eng.banks.create("tvec")
        listed = tmp_path / "list.txt"
        listed.write_text("", encoding="utf-8")
        eng.sources.create({"name": "local", "kind": "file", "path": str(listed), "bank": "local"}, created_by="t")
        feed = eng.feeds.create("outbound", banks=["tvec"], partners=["platform-b"], created_by="t")
        hook = eng.webhooks.create(url="http://127.0.0.1:9/hook", event_types=["item.verdict"])
        std, std_item = held_image(eng, 31, content_id="matrix-std")
        sen, sen_item = held_image(eng, 32, content_id="matrix-sen")
        reviewer = users.login("matrix-reviewer", PASSWORD)[0]
        review_service(eng).escalate(sen, reviewer)
        ids: dict[str, str | int] = {"hook": hook["id"], "std": std, "std_item": std_item, "sen": sen,
                                     "sen_item": sen_item}
        with TestClient(create_app(engine=eng, follow_writes=False)) as client:
            item = post_text_item(client, keys["submitter"], "post-abc123")
            made = client.post("/v1/removal-orders", json=order_body(), headers=_bearer(keys["submitter"]))
            assert made.status_code == 201, made.text
            assert eng.ready.wait(120), "the engine did not warm up"
            w = World(client, keys, feed["partners"][0]["token"], int(made.json()["id"]), item, ids)
            eng.feeds.update_partner("outbound", "platform-b", {"public_key": public_text(w.partner_key.public_key())})
            for role in CONSOLE_ROLES:  # one session per console role, reused by every request
                client.cookies.clear()
                csrf = sign_in(client, f"matrix-{role}")
                w.sessions[role] = (dict(client.cookies.items()), csrf)
            yield w
    finally:
        eng.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expected_status(probe: Probe, actor: str) -> int:
    kind, _, role = actor.partition(":")
    if probe.open:
        return probe.ok
    if probe.console is not None:  # a console page: only a session counts
        if kind != "console":
            return 303
        return probe.ok if CONSOLE_ROLES.index(role) >= CONSOLE_ROLES.index(probe.console) else 403
    if probe.partner:  # a partner route: only the partner's token counts
        return probe.ok if kind == "partner" else 401
    if kind != "key":  # an API route: nobody, a session cookie or a partner token is not an API key
        return 401
    return probe.ok if role in (*probe.keys, "admin") else 403


def send(w: World, method: str, probe: Probe, actor: str) -> int:
    """Send ``probe`` as ``actor`` on a fresh cookie jar; the console form carries the session's CSRF token."""
    return request_as(w, method, probe, actor).status_code


def request_as(w: World, method: str, probe: Probe, actor: str) -> Any:
    """:func:`send`, answering with the whole response."""
    c = w.client
    c.cookies.clear()
    kind, _, role = actor.partition(":")
    headers = dict(probe.headers)
    if kind == "key":
        headers.update(_bearer(w.keys[role]))
    elif kind == "partner":
        headers.update(_bearer(w.partner_token))
    content = probe.content
    if content is not None and probe.path.endswith("/feedback"):  # signed afresh: each call is a new one
        content = signed_feedback(w.partner_key, "outbound", json.loads(content)["opinions"])
    form = None if probe.form is None else dict(probe.form)
    if kind == "console":
        cookies, csrf = w.sessions[role]
        for name, value in cookies.items():
            c.cookies.set(name, value)
        if form is not None:
            form["csrf_token"] = probe.csrf or csrf
    path = probe.path.format(order=w.order, item=w.item, **w.ids)
    if probe.console is not None and kind != "console" and form is not None:
        form["csrf_token"] = "none"
    r = c.request(method, path, headers=headers, json=probe.json_body, content=content, data=form,
                  follow_redirects=False)
    assert r.status_code < 500, f"{method} {path} as {actor}: {r.status_code} {r.text[:300]}"
    if r.status_code == 303 and kind != "console" and not probe.open:
        assert r.headers["location"].endswith("/console/login"), r.headers["location"]
    return r


def sign_in(c: TestClient, username: str) -> str:
    page_ = c.get("/console/login")
    r = c.post("/console/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": csrf_of(page_.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(c.get("/console/queue").text)


def test_every_route_has_an_expectation(world: World) -> None:
    served = served_routes(world.client.app)
    missing = sorted(served - set(EXPECTED))
    stale = sorted(set(EXPECTED) - served)
    assert not missing, f"routes without a line in EXPECTED (decide who may call them): {missing}"
    assert not stale, f"EXPECTED names routes the app no longer serves: {stale}"


def test_role_matrix(world: World) -> None:
    """Every route × every caller, compared as one table so a failure shows every wrong cell at once."""
    wrong: list[str] = []
    for (method, route), probes in sorted(EXPECTED.items()):
        for probe in probes:
            for actor in ACTORS:
                want = expected_status(probe, actor)
                got = send(world, method, probe, actor)
                if got != want:
                    wrong.append(f"{method} {route} ({probe.path}) as {actor}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


def _greyscale_small(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as img:
        return img.mode == "L" and max(img.size) <= MAX_SIDE


def test_media_urls_of_real_cases_as_every_caller(world: World) -> None:
    """The media URLs the matrix probes with objects that do not exist, now with real ones: a standard and a
    senior-queue case, a bank thumbnail cut from a decided case, and each lead's own reveal. Whoever may open
    a case gets a shielded rendition (greyscale, small, never the upload); the original only behind the
    caller's own reveal; nobody else gets either, and static files are open to all."""
    eng = world.client.app.state.engine
    review = review_service(eng)
    users = ConsoleUsers(eng.db)
    user = {role: users.by_name(f"matrix-{role}") for role in CONSOLE_ROLES}
    std, sen = int(world.ids["std"]), int(world.ids["sen"])
    original = {case: review.media(case) for case in (std, sen)}
    taught, _ = held_image(eng, 33, content_id="matrix-taught")
    eng.banks.create("taught", default_action="review")
    assert review.decide(taught, user["senior"], outcome="violating", labels=["behaviour:glorification"],
                         bank="taught")["added"] >= 1
    with eng.db.session() as s:
        thumb = s.scalars(select(BankEntryMediaRow.entry_id).where(BankEntryMediaRow.case_id == taught)).first()
    assert thumb is not None
    thumb_original = entry_thumbnail(eng.db, thumb)
    assert thumb_original is not None
    again, _ = held_image(eng, 33, content_id="matrix-again")  # the taught picture again: it matches the entry
    reveal = {role: review.reveal(case, user[role]) for role, case in (("reviewer", std), ("senior", sen))}
    again_token = review.reveal(again, user["reviewer"])
    shielded, revealed = "shielded", "original"
    # (path, the console roles that get it, what they get, the upload it must or must not be)
    media: list[tuple[str, set[str], str, bytes]] = [
        (f"/console/cases/{std}/media", set(CONSOLE_ROLES), shielded, original[std][1]),
        (f"/console/cases/{sen}/media", {"senior", "admin"}, shielded, original[sen][1]),
        (f"/console/entries/{thumb}/thumbnail", set(CONSOLE_ROLES), shielded, thumb_original[1]),
        (f"/console/reveals/{reveal['reviewer']}", {"reviewer"}, revealed, original[std][1]),
        (f"/console/reveals/{reveal['senior']}", {"senior"}, revealed, original[sen][1]),
        (f"/console/reveals/{again_token}/entries/{thumb}", {"reviewer"}, revealed, thumb_original[1]),
    ]
    wrong: list[str] = []
    for path, allowed, kind, upload in media:
        for actor in ACTORS:
            who, _, role = actor.partition(":")
            r = request_as(world, "GET", Probe(path, 200, console="reviewer"), actor)
            if who != "console":
                want = 303
            elif role in allowed:
                want = 200
            else:  # a senior-queue case is forbidden; someone else's reveal does not exist for them
                want = 404 if kind == revealed else 403
            if r.status_code != want:
                wrong.append(f"{path} as {actor}: {r.status_code}, expected {want}")
            elif want == 200 and kind == shielded and (r.content == upload or not _greyscale_small(r.content)):
                wrong.append(f"{path} as {actor}: not a shielded rendition")
            elif want == 200 and kind == revealed and r.content != upload:
                wrong.append(f"{path} as {actor}: not the revealed original")
            elif want != 200 and upload in r.content:
                wrong.append(f"{path} as {actor}: the refusal carries the upload")
    for actor in ACTORS:
        r = request_as(world, "GET", anyone("/static/console.css", 200), actor)
        if r.status_code != 200:
            wrong.append(f"/static/console.css as {actor}: {r.status_code}")
    assert not wrong, "\n".join(wrong)


def test_a_reveal_ends_when_its_case_moves_to_the_senior_queue(world: World) -> None:
    """A reviewer's live reveal of a standard case must not outlive the case's move to the senior queue:
    from then on only seniors may see the case at all, shielded or not."""
    eng = world.client.app.state.engine
    review = review_service(eng)
    reviewer = ConsoleUsers(eng.db).by_name("matrix-reviewer")
    assert reviewer is not None
    std = int(world.ids["std"])
    original = review.media(std)[1]
    token = review.reveal(std, reviewer)
    url = f"/console/reveals/{token}"
    assert request_as(world, "GET", Probe(url, 200, console="reviewer"), "console:reviewer").status_code == 200
    review.escalate(std, reviewer)
    for path in (url, f"/console/cases/{std}/media"):
        r = request_as(world, "GET", Probe(path, 200, console="reviewer"), "console:reviewer")
        assert r.status_code == 403 and original not in r.content, (path, r.status_code)
