"""Console pages for removal orders: the list with each order's countdown, intake by form or by pasting
the authority's e-mail/PDF text, and the buttons that remove, pause (Annex III), resume and reverse.

Uses the console's own session, CSRF and role helpers, so these pages behave like every other page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from seawall.api.edge import Id64
from seawall.api.routes.console import Denied, _call, _form, _page, _user
from seawall.api.routes.removal_orders import parse_order
from seawall.legal.annex1 import REASONS
from seawall.legal.deadline import IMPOSSIBILITY
from seawall.legal.intake_text import parse
from seawall.legal.orders import OrderService
from seawall.legal.pdf import form_pdf
from seawall.legal.report_render import charts, rows, to_pdf
from seawall.legal.service import LegalService
from seawall.legal.transparency import compute

router = APIRouter(prefix="/console/removal-orders", include_in_schema=False)


def _orders(request: Request) -> OrderService:
    legal: LegalService = request.app.state.legal
    return legal.orders


def _countdown(order: dict[str, Any]) -> str:
    if order["remaining_seconds"] is None:
        return {"paused": "clock held", "removed": "done", "reversed": "reversed"}.get(order["status"], "—")
    secs = int(order["remaining_seconds"])
    sign = "-" if secs < 0 else ""
    secs = abs(secs)
    return f"{sign}{secs // 60:02d}:{secs % 60:02d}"


def _page_ctx(request: Request) -> dict[str, Any]:
    return {"reasons": REASONS, "impossibility": list(IMPOSSIBILITY), "countdown": _countdown}


@router.get("")
def orders_page(request: Request, status: str = "") -> HTMLResponse:
    user, token = _user(request)
    orders = _call(lambda: _orders(request).orders(status=status or None))
    alerts = [o for o in orders if o["alert_level"] is not None]
    return _page(request, user, token, "legal_orders.html", orders=orders, alerts=alerts, selected=status,
                 prefill={}, missing=[], **_page_ctx(request))


def _form_to_order(form: dict[str, Any]) -> dict[str, Any]:
    """The intake form's flat fields as an Annex I body; blanks are left out."""
    def val(name: str) -> str | None:
        v = str(form.get(name, "")).strip()
        return v or None

    issued = val("issued_at")
    embargo = val("notify_embargo_until")
    body: dict[str, Any] = {
        "reference": val("reference"), "issuing_state": (val("issuing_state") or "").upper() or None,
        "addressee": val("addressee"), "contact_point": val("contact_point"),
        "issued_at": issued, "urls": [u.strip() for u in str(form.get("urls", "")).split() if u.strip()],
        "locators": [{"content_id": c.strip()} for c in str(form.get("content_ids", "")).split() if c.strip()],
        "reasons": [r for r in REASONS if form.get(f"reason_{r}")],
        "additional_reasons": str(form.get("additional_reasons", "")),
        "do_not_inform": bool(form.get("do_not_inform")), "notify_embargo_until": embargo,
        "cross_border": bool(form.get("cross_border")),
        "authority": {"type": val("authority_type"), "name": val("authority_name"),
                      "file_number": val("authority_file_number"), "email": val("authority_email"),
                      "signed": bool(form.get("signed"))},
        "redress": {"body": val("redress_body"), "deadline": val("redress_deadline")},
        "follow_up_contact": val("follow_up_contact"),
    }
    return body


@router.post("")
async def create(request: Request) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    order = _call(lambda: parse_order(_form_to_order(form)))
    out = _call(lambda: _orders(request).receive(
        order, via="console", source=f"console user {user.username}", created_by=user.username))
    return RedirectResponse(f"/console/removal-orders/{out['id']}", status_code=303)


@router.post("/parse")
async def parse_page(request: Request) -> HTMLResponse:
    """Read the pasted e-mail/PDF text into the intake form; a person completes and submits it."""
    user, token = _user(request)
    form = await _form(request, token)
    parsed = parse(str(form.get("text", ""))[:200_000])
    f = parsed["fields"]
    prefill = {
        "reference": f.get("reference", ""), "issuing_state": f.get("issuing_state", ""),
        "addressee": f.get("addressee", ""), "issued_at": (f.get("issued_at") or "")[:16],
        "urls": "\n".join(f.get("urls", [])), "authority_name": (f.get("authority") or {}).get("name", ""),
        "authority_file_number": (f.get("authority") or {}).get("file_number", ""),
        "authority_email": (f.get("authority") or {}).get("email", ""),
        "redress_body": (f.get("redress") or {}).get("body", ""),
        "additional_reasons": f.get("additional_reasons", ""), "do_not_inform": f.get("do_not_inform", False),
        "cross_border": f.get("cross_border", False), **{f"reason_{r}": True for r in f.get("reasons", [])},
    }
    orders = _orders(request).orders()
    return _page(request, user, token, "legal_orders.html", orders=orders, alerts=[], selected="",
                 prefill=prefill, missing=parsed["missing"], **_page_ctx(request))


@router.get("/{order_id}")
def order_page(request: Request, order_id: Id64) -> HTMLResponse:
    user, token = _user(request)
    order = _call(lambda: _orders(request).get(order_id))
    return _page(request, user, token, "legal_order.html", order=order, **_page_ctx(request))


@router.post("/{order_id}/{action}")
async def act(request: Request, order_id: Id64, action: str) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    orders = _orders(request)
    if action == "execute":
        extra = [{"content_id": c} for c in str(form.get("content_ids", "")).split() if c]
        _call(lambda: orders.execute(order_id, actor=user.username, locators=extra))
    elif action == "removed":
        _call(lambda: orders.confirm_removed(order_id, actor=user.username))
    elif action == "impossible":
        _call(lambda: orders.impossible(order_id, reason=str(form.get("reason", "")),
                                        explanation=str(form.get("explanation", "")),
                                        clarification=str(form.get("clarification", "")), actor=user.username))
    elif action == "resume":
        _call(lambda: orders.resume(order_id, actor=user.username))
    elif action == "reverse":
        if not user.has("senior"):
            raise Denied(403, "reversing an order needs the senior role")
        _call(lambda: orders.reverse(order_id, actor=user.username, decided_by=str(form.get("decided_by", "")),
                                     reason=str(form.get("reason", ""))))
    else:
        raise Denied(404, f"no action {action!r}")
    return RedirectResponse(f"/console/removal-orders/{order_id}", status_code=303)


@router.get("/{order_id}/annex-{which}.pdf")
def annex_pdf(request: Request, order_id: Id64, which: str) -> Response:
    _user(request)
    orders = _orders(request)
    if which == "ii":
        form = _call(lambda: orders.annex2(order_id))
    elif which == "iii":
        form = _call(lambda: orders.annex3(order_id))
    else:
        raise Denied(404, "annex-ii or annex-iii")
    return Response(form_pdf(form), media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="annex-{which}-order-{order_id}.pdf"',
        "Cache-Control": "no-store"})


transparency_router = APIRouter(prefix="/console/transparency", include_in_schema=False)


def _period(start: str, end: str) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    try:
        begin = datetime.fromisoformat(start) if start else datetime(now.year - 1, 1, 1)
        finish = datetime.fromisoformat(end) if end else datetime(begin.year + 1, 1, 1)
    except ValueError:
        raise Denied(400, "from/to: use a date such as 2026-01-01") from None
    return begin.replace(tzinfo=UTC), finish.replace(tzinfo=UTC)


@transparency_router.get("")
def transparency_page(request: Request, start: str = Query("", alias="from"),
                      end: str = Query("", alias="to")) -> HTMLResponse:
    """The period's report with its charts; the previous calendar year unless another period is chosen."""
    user, token = _user(request, "admin")
    legal: LegalService = request.app.state.legal
    begin, finish = _period(start, end)
    report = _call(lambda: compute(legal.db, begin, finish, provider=legal.settings.provider_name))
    return _page(request, user, token, "legal_transparency.html", r=report, charts=charts(report), rows=rows,
                 start=begin.date().isoformat(), end=finish.date().isoformat())


@transparency_router.get(".pdf")
def transparency_pdf(request: Request, start: str = Query("", alias="from"),
                     end: str = Query("", alias="to")) -> Response:
    _user(request, "admin")
    legal: LegalService = request.app.state.legal
    begin, finish = _period(start, end)
    report = _call(lambda: compute(legal.db, begin, finish, provider=legal.settings.provider_name))
    return Response(to_pdf(report), media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="transparency-report.pdf"', "Cache-Control": "no-store"})
