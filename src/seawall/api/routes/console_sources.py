"""Console page for hash sharing (admins): sources with their health, published feeds with partners'
precision, and the few switches an operator needs at hand (enable, trust, sync now).

Same rules as the rest of the console: role checked on the server, every form carries the session's
CSRF token, every change is written to the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from seawall.api.routes.console import _call, _engine, _form, _page, _user
from seawall.errors import InvalidInput
from seawall.review.audit import record

router = APIRouter(prefix="/console", include_in_schema=False)
CHANGES = {"enable": {"enabled": True}, "disable": {"enabled": False}, "trust": {"trusted": True},
           "distrust": {"trusted": False}}


@router.get("/admin/sources")
def sources_page(request: Request, synced: str = "") -> HTMLResponse:
    user, token = _user(request, "admin")
    engine = _engine(request)
    feeds = [{**f, "feedback": engine.feeds.feedback_summary(f["name"])} for f in engine.feeds.list_feeds()]
    return _page(request, user, token, "admin_sources.html", sources=engine.sources.list_sources(), feeds=feeds,
                 synced=synced)


@router.post("/admin/sources/{name}")
async def change_source(request: Request, name: str) -> Response:
    user, token = _user(request, "admin")
    form = await _form(request, token)
    engine = _engine(request)
    what = str(form.get("do", ""))
    if what == "sync":
        report = _call(lambda: engine.sources.sync(name))
        detail = report.to_dict()
        detail.pop("rejects", None)
    elif what in CHANGES:
        _call(lambda: engine.sources.update(name, dict(CHANGES[what])))
        engine.matcher.reload_banks()
        detail = dict(CHANGES[what])
    else:
        def refuse() -> None:
            raise InvalidInput(f"unknown source action {what!r}", code="invalid_field")

        _call(refuse)
        return Response(status_code=422)
    with engine.db.session() as s:
        record(s, user.username, f"source.{what}", "source", name, detail)
    return RedirectResponse(f"/console/admin/sources?synced={name if what == 'sync' else ''}", status_code=303)
