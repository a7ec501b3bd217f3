"""The review console: server-rendered pages over the review service, with sessions, CSRF and role checks.

Every route resolves the session on the server and checks the role before doing anything; every form
that changes state carries a CSRF token derived from the session (the login form, which has no
session yet, uses a double-submit cookie). Pages are plain HTML with no script needed to work.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from seawall.api.edge import Id64
from seawall.api.ratelimit import client_address
from seawall.errors import SeawallError
from seawall.review.access import ensure_case_open_to, ensure_queue_visible, ensure_thumbnail_open_to
from seawall.review.appeals import AppealService
from seawall.review.audit import to_csv
from seawall.review.cases import ReviewService
from seawall.review.choices import reviewer_actions
from seawall.review.context import case_context, entry_thumbnail
from seawall.review.reports import ReportService
from seawall.review.users import ConsoleUser, ConsoleUsers, LoginFailed, csrf_for

router = APIRouter(prefix="/console", include_in_schema=False)

SESSION_COOKIE = "seawall_session"
LOGIN_CSRF_COOKIE = "seawall_login_csrf"
#: Proves this browser signed in before: it is exempt from the account's back-off (see review.throttle).
DEVICE_COOKIE = "seawall_device"
T = TypeVar("T")


class LoginRequired(Exception):
    """No valid session: send the browser to the login page."""


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _call(fn: Callable[[], T]) -> T:
    """Run a service call, turning its refusals (conflict, bad input, not found) into a readable page."""
    try:
        return fn()
    except SeawallError as exc:
        raise Denied(exc.status, exc.message) from exc


def _users(request: Request) -> ConsoleUsers:
    users: ConsoleUsers = request.app.state.console_users
    return users


def _review(request: Request) -> ReviewService:
    review: ReviewService = request.app.state.review
    return review


def _render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    html = request.app.state.templates.get_template(f"console/{name}").render(**ctx)
    resp = HTMLResponse(html, status_code=status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self'; media-src 'self'; " \
                                              "frame-ancestors 'none'; form-action 'self'"
    return resp


def _user(request: Request, role: str = "reviewer") -> tuple[ConsoleUser, str]:
    token = request.cookies.get(SESSION_COOKIE)
    user = _users(request).resolve(token)
    if user is None or token is None:
        raise LoginRequired()
    if not user.has(role):
        raise Denied(403, f"this page needs the {role} role")
    return user, token


async def _form(request: Request, token: str | None) -> dict[str, Any]:
    """Read a posted form and check its CSRF token (session-bound, or the login double-submit cookie)."""
    form = await request.form()
    sent = str(form.get("csrf_token") or "")
    expected = csrf_for(token) if token else request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Denied(403, "the form's security token is missing or wrong; reload the page and try again")
    return {k: form.getlist(k) if k == "labels" else str(v) for k, v in form.items()}


def _appeals(request: Request) -> AppealService:
    appeals: AppealService = request.app.state.appeals
    return appeals


def _page(request: Request, user: ConsoleUser, token: str, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return _render(request, name, status, user=user, csrf=csrf_for(token), shield=f"shield-{user.effective_shield}",
                   exposure=_review(request).exposure_today(user.username), **ctx)


@router.get("/login")
def login_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    resp = _render(request, "login.html", status, csrf=csrf, error=error, user=None)
    resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/console",
                    secure=request.url.scheme == "https")
    return resp


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request, None)
    try:
        user, token = _users(request).login(form.get("username", "")[:100], form.get("password", "")[:1000],
                                            client=client_address(request.scope),
                                            device=request.cookies.get(DEVICE_COOKIE))
    except LoginFailed as exc:
        page = login_page(request, error=str(exc), status=401)
        if exc.retry_after > 0:
            page.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return page
    resp = RedirectResponse("/console/queue", status_code=303)
    resp.set_cookie(DEVICE_COOKIE, _users(request).device_cookie(user), httponly=True, samesite="strict",
                    path="/console/login", secure=request.url.scheme == "https", max_age=180 * 86400)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                    secure=request.url.scheme == "https", max_age=8 * 3600)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    user, token = _user(request)
    await _form(request, token)
    _users(request).logout(token, user)
    resp = RedirectResponse("/console/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("")
@router.get("/")
def console_root() -> Response:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/queue")
def queue_page(request: Request, queue: str = "") -> HTMLResponse:
    user, token = _user(request)
    if queue not in ("", "standard", "senior"):
        raise Denied(400, "queue: standard or senior")
    _call(lambda: ensure_queue_visible(user, queue))
    shown = queue or (None if user.has("senior") else "standard")  # reviewers never see senior cases listed
    return _page(request, user, token, "queue.html", cases=_review(request).queue(queue=shown),
                 selected=queue)


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: Id64) -> HTMLResponse:
    user, token = _user(request)
    review = _review(request)
    _call(lambda: ensure_case_open_to(review.db, case_id, user))
    case = _call(lambda: review.get(case_id))
    item = _call(lambda: review.engine.items.get(case.item_id))
    text = None
    if case.media_type and case.media_type.startswith("text/"):
        media = review.media(case_id)
        text = media[1].decode("utf-8", "replace")[:20_000] if media else None
    banks = review.engine.banks.list_banks()
    reports: ReportService = request.app.state.reports
    from seawall.sharing.provenance import provenance

    return _page(request, user, token, "case.html", case=case, item=item, text=text,
                 provenance=provenance(review.engine.db, [m.entry_id for m in item.verdict.matches]),
                 revealed=review.revealed(case_id, user), labels=_label_choices(),
                 block_banks=[b.name for b in banks if b.kind == "block"],
                 allow_banks=[b.name for b in banks if b.kind == "allow"],
                 context=case_context(review.engine, item), reports=reports.for_case(case_id),
                 appeal=_appeals(request).for_case(case_id) if case.kind == "appeal" else None)


@router.get("/entries/{entry_id}/thumbnail")
def entry_thumb(request: Request, entry_id: Id64) -> Response:
    """The thumbnail kept with a bank entry a reviewer created; shown shielded like case media."""
    user, _token = _user(request)
    _call(lambda: ensure_thumbnail_open_to(_review(request).db, entry_id, user))
    found = entry_thumbnail(_review(request).engine, entry_id)
    if found is None:
        raise Denied(404, "this bank entry has no stored thumbnail")
    return Response(found[1], media_type=found[0], headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.get("/cases/{case_id}/media")
def case_media(request: Request, case_id: Id64) -> Response:
    user, _token = _user(request)
    _call(lambda: ensure_case_open_to(_review(request).db, case_id, user))
    media = _review(request).media(case_id)
    if media is None:
        raise Denied(404, "this case has no stored media")
    media_type, data = media
    return Response(data, media_type=media_type, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline"})


@router.post("/cases/{case_id}/reveal")
async def reveal(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    await _form(request, token)
    _call(lambda: ensure_case_open_to(_review(request).db, case_id, user))
    _call(lambda: _review(request).reveal(case_id, user))
    return RedirectResponse(f"/console/cases/{case_id}#media", status_code=303)


@router.post("/cases/{case_id}/take")
async def take(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    await _form(request, token)
    _call(lambda: _review(request).take(case_id, user))
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/decide")
async def decide(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    outcome = form.get("outcome", "")
    labels = [str(x) for x in form.get("labels", [])]
    extra = [x.strip() for x in form.get("group", "").split(",") if x.strip()]
    labels += [x if ":" in x else f"group:{x}" for x in extra]
    bank = form.get("block_bank" if outcome == "violating" else "allow_bank") or None
    review = _review(request)
    actions = _call(lambda: reviewer_actions(
        review.engine.registry, user.username, remove=bool(form.get("remove")), label=form.get("label_text", ""),
        strike=bool(form.get("strike")), suspend=form.get("suspend", "")))
    result = _call(lambda: review.decide(case_id, user, outcome=outcome, labels=labels, actions=actions,
                                         bank=bank, note=form.get("note", "")))
    return _page(request, user, token, "decided.html", case=review.get(case_id), result=result)


@router.post("/cases/{case_id}/appeal")
async def decide_appeal(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    appeal = _call(lambda: _appeals(request).decide(case_id, user, outcome=form.get("outcome", ""),
                                                    note=form.get("note", "")))
    return _page(request, user, token, "appeal_decided.html", case=_review(request).get(case_id), appeal=appeal)


@router.get("/audit")
def audit_page(request: Request, actor: str = "", action: str = "", since: str = "", until: str = "") -> Response:
    user, token = _user(request, "admin")
    entries = _audit_query(request, actor, action, since, until)
    return _page(request, user, token, "audit.html", entries=entries,
                 filters={"actor": actor, "action": action, "since": since, "until": until})


@router.get("/audit.csv")
def audit_csv(request: Request, actor: str = "", action: str = "", since: str = "", until: str = "") -> Response:
    _user(request, "admin")
    body = to_csv(_audit_query(request, actor, action, since, until, limit=100_000))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="seawall-audit.csv"'})


def _audit_query(request: Request, actor: str, action: str, since: str, until: str,
                 limit: int = 500) -> list[Any]:
    def day(value: str, field: str) -> datetime | None:
        if not value:
            return None
        try:
            from datetime import UTC

            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            raise Denied(400, f"{field}: use a date such as 2026-01-31") from None

    end = day(until, "until")
    return _review(request).audit.query(actor=actor or None, action=action or None, since=day(since, "since"),
                                        until=end + timedelta(days=1) if end else None, limit=limit)


def _label_choices() -> list[tuple[str, str]]:
    from seawall.domain.labels import taxonomy

    tax = taxonomy()
    return [(f"{ns}:{slug}", str(v.get("title", slug))) for ns in ("behaviour", "ideology")
            for slug, v in tax[ns].items()]


def install(app: FastAPI) -> None:
    """Register the console: its services, its routes, and how its refusals are shown (HTML, not JSON)."""
    engine = app.state.engine
    app.state.console_users = ConsoleUsers(engine.db, free_failures=engine.settings.login_free_failures,
                                           backoff_max_seconds=engine.settings.login_backoff_max_seconds)
    app.state.review = ReviewService(engine)
    app.state.reports = ReportService(engine)
    app.state.appeals = AppealService(engine)

    async def login_required(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/console/login", status_code=303)

    async def denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Denied)
        return _render(request, "error.html", exc.status, message=exc.message, user=None)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Denied, denied)
    app.include_router(router)
    from seawall.api.routes.console_admin import router as admin_router

    app.include_router(admin_router)
    from seawall.api.routes.console_sources import router as sources_router

    app.include_router(sources_router)

