"""Console page for hash sharing (admins): sources with their health and push status, published feeds
with partners' precision, and managing both without the API: add, pause or enable, trust, sync now,
push now and delete sources; publish feeds; add, key, revoke and remove partners.

Same rules as the rest of the console: role checked on the server, forms work without script, every
form carries the session's CSRF token, every change is written to the audit log. A refused form is
shown again with what was typed (secrets excepted) and the reason, so nothing has to be retyped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from seawall.api.routes.console import Denied, _call, _engine, _form, _page, _user
from seawall.errors import InvalidInput
from seawall.models.records import ACTIONS
from seawall.review.audit import record

router = APIRouter(prefix="/console", include_in_schema=False)
CHANGES = {"enable": {"enabled": True}, "disable": {"enabled": False}, "trust": {"trusted": True},
           "distrust": {"trusted": False}}
#: Fields of the "add a source" form, by exchange setting; secrets are never echoed back.
SOURCE_FIELDS = ("name", "kind", "url", "path", "format", "feed", "public_key", "banks", "action")
SOURCE_SECRETS = ("token", "api_key", "password", "access_token")
FEED_FIELDS = ("name", "banks", "partners", "labels")


def _names(text: str) -> list[str]:
    """A comma- or space-separated list typed into one field."""
    return [p for p in text.replace(",", " ").split() if p]


def _render_page(request: Request, status: int = 200, **extra: Any) -> HTMLResponse:
    user, token = _user(request, "admin")
    engine = _engine(request)
    feeds = [{**f, "feedback": engine.feeds.feedback_summary(f["name"])} for f in engine.feeds.list_feeds()]
    kinds = sorted(getattr(engine.registry, "exchanges", {}))
    ctx: dict[str, Any] = {"synced": "", "source_form": {}, "source_error": None, "feed_form": {},
                           "feed_error": None, "partner_error": None, "tokens": [], "notice": ""}
    ctx.update(extra)
    return _page(request, user, token, "admin_sources.html", status, sources=engine.sources.list_sources(),
                 feeds=feeds, kinds=kinds, formats=sorted(engine.registry.hashlist_formats), actions=ACTIONS,
                 **ctx)


def _audit(request: Request, username: str, action: str, kind: str, name: str, detail: dict[str, Any]) -> None:
    with _engine(request).db.session() as s:
        record(s, username, action, kind, name, detail)


@router.get("/admin/sources")
def sources_page(request: Request, synced: str = "", notice: str = "") -> HTMLResponse:
    return _render_page(request, synced=synced, notice=notice[:200])


@router.post("/admin/sources")
async def add_source(request: Request) -> Response:
    """Add a source from the form; a refusal shows the form again with its input and the reason."""
    user, token = _user(request, "admin")
    form = await _form(request, token)
    engine = _engine(request)
    body: dict[str, Any] = {k: form[k].strip() for k in (*SOURCE_FIELDS, *SOURCE_SECRETS)
                            if str(form.get(k, "")).strip()}
    if "banks" in body:
        body["banks"] = _names(body["banks"])
    body["enabled"] = form.get("enabled") == "on"
    try:
        made = _call(lambda: engine.sources.create(body, created_by=f"console:{user.username}"))
    except Denied as exc:
        kept = {k: form.get(k, "") for k in SOURCE_FIELDS}
        return _render_page(request, exc.status, source_form=kept, source_error=exc.message)
    engine.matcher.reload_banks()
    _audit(request, user.username, "source.create", "source", made["name"],
           {"kind": made["kind"], "banks": made["banks"]})
    return RedirectResponse(f"/console/admin/sources?notice=Added+source+{made['name']}", status_code=303)


@router.post("/admin/sources/{name}")
async def change_source(request: Request, name: str) -> Response:
    user, token = _user(request, "admin")
    form = await _form(request, token)
    engine = _engine(request)
    what = str(form.get("do", ""))
    detail: dict[str, Any]
    if what == "sync":
        report = _call(lambda: engine.sources.sync(name))
        detail = report.to_dict()
        detail.pop("rejects", None)
    elif what in CHANGES:
        _call(lambda: engine.sources.update(name, dict(CHANGES[what])))
        engine.matcher.reload_banks()
        detail = dict(CHANGES[what])
    elif what == "delete":
        _call(lambda: engine.sources.delete(name))
        detail = {}
    else:
        def refuse() -> None:
            raise InvalidInput(f"unknown source action {what!r}", code="invalid_field")

        _call(refuse)
        return Response(status_code=422)
    _audit(request, user.username, f"source.{what}", "source", name, detail)
    if what == "delete":
        return RedirectResponse(f"/console/admin/sources?notice=Deleted+source+{name}", status_code=303)
    return RedirectResponse(f"/console/admin/sources?synced={name if what == 'sync' else ''}", status_code=303)


@router.post("/admin/sources/{name}/push")
async def push_source(request: Request, name: str) -> Response:
    """Send the source the new entries of its push banks now, as ``POST /v1/sources/{name}/push`` does
    (the same service, so a manual push ignores the back-off); the page then says what went or why not."""
    user, token = _user(request, "admin")
    await _form(request, token)
    engine = _engine(request)
    report = await run_in_threadpool(lambda: _call(lambda: engine.sources.push(name)))
    _audit(request, user.username, "source.push", "source", name,
           {"pushed": report["pushed"], "cursor": report["cursor"], "error": report["error"]})
    if report["error"]:
        notice = f"Push to {name} failed: {report['error']}"
    else:
        notice = f"Pushed {report['pushed']} entries to {name}"
    return RedirectResponse(f"/console/admin/sources?{urlencode({'notice': notice[:200]})}#push-{name}",
                            status_code=303)


@router.post("/admin/feeds")
async def add_feed(request: Request) -> Response:
    """Publish banks as a feed; the partners' tokens are shown on the answer, this once only."""
    user, token = _user(request, "admin")
    form = await _form(request, token)
    engine = _engine(request)
    name = str(form.get("name", "")).strip()
    try:
        made = _call(lambda: engine.feeds.create(name, _names(str(form.get("banks", ""))),
                                                 _names(str(form.get("partners", ""))),
                                                 labels=_names(str(form.get("labels", ""))),
                                                 created_by=f"console:{user.username}"))
    except Denied as exc:
        return _render_page(request, exc.status, feed_form={k: form.get(k, "") for k in FEED_FIELDS},
                            feed_error=exc.message)
    _audit(request, user.username, "feed.create", "feed", name,
           {"banks": made["banks"], "partners": [p["name"] for p in made["partners"]]})
    tokens = [{"feed": name, **p} for p in made["partners"]]
    return _render_page(request, 201, tokens=tokens, notice=f"Published feed {name}")


@router.post("/admin/feeds/{name}/partners")
async def change_partner(request: Request, name: str) -> Response:
    """Add a partner (its token is shown once), register its feedback key, revoke, restore or remove it."""
    user, token = _user(request, "admin")
    form = await _form(request, token)
    feeds = _engine(request).feeds
    what = str(form.get("do", ""))
    partner = str(form.get("partner", "")).strip()
    try:
        if what == "add":
            made = _call(lambda: feeds.add_partner(name, partner))
            _audit(request, user.username, "feed.partner_add", "feed", name, {"partner": partner})
            return _render_page(request, 201, tokens=[{"feed": name, **made}],
                                notice=f"Added partner {partner} to feed {name}")
        if what == "set_key":
            key = str(form.get("public_key", "")).strip() or None
            _call(lambda: feeds.update_partner(name, partner, {"public_key": key}))
        elif what in ("revoke", "restore"):
            _call(lambda: feeds.update_partner(name, partner, {"revoked": what == "revoke"}))
        elif what == "remove":
            _call(lambda: feeds.delete_partner(name, partner))
        else:
            raise Denied(422, f"unknown partner action {what!r}")
    except Denied as exc:
        return _render_page(request, exc.status, partner_error=exc.message,
                            feed_form={"partner_feed": name, "partner": partner,
                                       "public_key": form.get("public_key", "")})
    _audit(request, user.username, f"feed.partner_{what}", "feed", name, {"partner": partner})
    return RedirectResponse(f"/console/admin/sources?notice=Partner+{partner}+{what}+done", status_code=303)
