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
from starlette.concurrency import run_in_threadpool

from seawall.api.attach import attach_router
from seawall.api.edge import Id64
from seawall.api.ratelimit import client_address
from seawall.composition import appeal_service, report_service, review_service
from seawall.engine import Engine
from seawall.errors import SeawallError
from seawall.review.access import ensure_case_open_to, ensure_queue_visible, ensure_thumbnail_open_to
from seawall.review.appeals import AppealService
from seawall.review.audit import counts_by_actor, to_csv
from seawall.review.case_page import read_case_page
from seawall.review.cases import ReviewService
from seawall.review.choices import reviewer_actions
from seawall.review.context import entry_thumbnail
from seawall.review.queue_page import read_queue_page
from seawall.review.search import CaseFilter
from seawall.review.shield import shielded
from seawall.review.spans import text_spans
from seawall.review.timeline import account_timeline
from seawall.review.users import ConsoleUser, ConsoleUsers, LoginFailed, csrf_for
from seawall.review.wording import case_reason, human_age, match_reasons
from seawall.store.bank_list import bank_choices
from seawall.store.tables import utcnow

router = APIRouter(prefix="/console", include_in_schema=False)

SESSION_COOKIE = "seawall_session"
LOGIN_CSRF_COOKIE = "seawall_login_csrf"
#: Proves this browser signed in before: it is exempt from the account's back-off (see review.throttle).
DEVICE_COOKIE = "seawall_device"
T = TypeVar("T")


class LoginRequired(Exception):
    """No valid session: send the browser to the login page."""


class Denied(Exception):
    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: The service's machine code (``user_exists``…), shown on the page for scripts and tests.
        self.code = code


def _call(fn: Callable[[], T]) -> T:
    """Run a service call, turning its refusals (conflict, bad input, not found) into a readable page."""
    try:
        return fn()
    except SeawallError as exc:
        raise Denied(exc.status, exc.message, exc.code) from exc


def _users(request: Request) -> ConsoleUsers:
    users: ConsoleUsers = request.app.state.console_users
    return users


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


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


def _page(request: Request, user: ConsoleUser, token: str, name: str, status: int = 200, *,
          exposure: int | None = None, **ctx: Any) -> HTMLResponse:
    """A console page with the header's parts; ``exposure`` when the caller already read it with its own reads."""
    if exposure is None:
        exposure = _review(request).exposure_today(user.username)
    return _render(request, name, status, user=user, csrf=csrf_for(token), shield=f"shield-{user.effective_shield}",
                   exposure=exposure, **ctx)


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
def queue_page(request: Request, queue: str = "", kind: str = "", account_id: str = "", content_id: str = "",
               bank: str = "", label: str = "", signal: str = "", source: str = "", sla: str = "",
               sort: str = "priority", status: str = "undecided", assignee: str = "", saved: str = "") -> HTMLResponse:
    """The queue, filtered and sorted by the database; a filtered view's URL is its saved view."""
    user, token = _user(request)
    if queue not in ("", "standard", "senior"):
        raise Denied(400, "queue: standard or senior")
    _call(lambda: ensure_queue_visible(user, queue))
    shown = queue or ("" if user.has("senior") else "standard")  # reviewers never see senior cases listed
    f = CaseFilter(queue=shown, kind=kind, account_id=account_id.strip(), content_id=content_id.strip(),
                   bank=bank.strip(), label=label.strip(), signal=signal.strip(), source=source, sla=sla, sort=sort,
                   status=status, assignee=assignee.strip())
    review = _review(request)
    read = _call(lambda: read_queue_page(review, f, user, limit=QUEUE_PAGE))
    return _page(request, user, token, "queue.html", exposure=read.exposure, cases=read.cases, selected=queue,
                 f=f, banks=[name for name, _ in bank_choices(review.db)], labels=_label_choices(),
                 reasons=read.reasons, human_age=human_age, thumbs=read.thumbs, views=SAVED_VIEWS,
                 page_size=QUEUE_PAGE, my_views=read.my_views, saved=saved if saved in ("new", "same") else "")


#: Cases on one queue page: the top of the queue is what gets worked; filters find the rest.
QUEUE_PAGE = 50

#: Views reviewers asked for most, one click from the queue (any filtered URL can be bookmarked too).
SAVED_VIEWS: tuple[tuple[str, str], ...] = (
    ("Overdue", "/console/queue?sla=red&sort=sla"), ("User reports", "/console/queue?kind=report"),
    ("Appeals", "/console/queue?kind=appeal"), ("Taken", "/console/queue?status=assigned"),
    ("Oldest first", "/console/queue?sort=oldest"))


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: Id64, decided: int | None = None) -> HTMLResponse:
    user, token = _user(request)
    return _case_page(request, user, token, case_id, decided_prev=decided)


def _case_page(request: Request, user: ConsoleUser, token: str, case_id: int, *, status: int = 200,
               error: str | None = None, posted: dict[str, Any] | None = None,
               decided_prev: int | None = None) -> HTMLResponse:
    """The case page; after a refused decision it is shown again with the message and what was entered."""
    review = _review(request)
    read = _call(lambda: read_case_page(review, _engine(request).accounts, case_id, user))
    case, item, text, context, reveal_token = read.case, read.item, read.text, read.context, read.reveal_token
    banks = bank_choices(review.db)
    suggested = sorted({lb for e in context["entries"] if e["bank_kind"] == "block" for lb in e["labels"]})
    rule_reasons = [r for r in item.verdict.reasons if r.startswith("rule ") or " matched entry " in r]
    return _page(request, user, token, "case.html", status, exposure=read.exposure, case=case, item=item,
                 text=text, revealed=reveal_token is not None, labels=_label_choices(), provenance=read.provenance,
                 block_banks=[name for name, kind in banks if kind == "block"],
                 allow_banks=[name for name, kind in banks if kind == "allow"],
                 context=context, reports=read.reports, appeal=read.appeal,
                 reason=case_reason(case.reason, item.verdict.matches),
                 match_reasons=match_reasons(item.verdict.matches),
                 other_reasons=[r for r in item.verdict.reasons if r not in rule_reasons],
                 raw_reasons=rule_reasons, age=human_age(case.created_at), error=error, posted=posted or {},
                 suggested=suggested, decided_prev=decided_prev,
                 cluster=read.cluster,
                 reveal_url=f"/console/reveals/{reveal_token}" if reveal_token else None,
                 highlight=text_spans(text, context["entries"]) if text else None)


MEDIA_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline",
                 "Referrer-Policy": "no-referrer"}


@router.get("/accounts/{account_id}")
def account_page(request: Request, account_id: str) -> HTMLResponse:
    """An account's timeline: items, verdicts, strikes, suspensions, reports and appeals, each linked."""
    user, token = _user(request)
    engine = _engine(request)
    found = _call(lambda: account_timeline(engine.db, engine.accounts, account_id[:300]))
    return _page(request, user, token, "account.html", acc=found["account"], events=found["events"])


@router.get("/entries/{entry_id}/thumbnail")
def entry_thumb(request: Request, entry_id: Id64) -> Response:
    """A bank entry's kept thumbnail, shielded on the server like case media (the original needs a reveal)."""
    user, _ = _user(request)
    _call(lambda: ensure_thumbnail_open_to(_review(request).db, entry_id, user))
    found = entry_thumbnail(_engine(request).db, entry_id)
    if found is None:
        raise Denied(404, "this bank entry has no stored thumbnail")
    media_type, data = shielded(found[1], found[0], user.effective_shield)
    return Response(data, media_type=media_type, headers=MEDIA_HEADERS)


@router.get("/cases/{case_id}/media")
def case_media(request: Request, case_id: Id64) -> Response:
    """The case's media as a shielded rendition made on the server: never the original (see reveals)."""
    user, _ = _user(request)
    _call(lambda: ensure_case_open_to(_review(request).db, case_id, user))
    media = _review(request).shielded_media(case_id, user.effective_shield)
    if media is None:
        raise Denied(404, "this case has no stored media")
    return Response(media[1], media_type=media[0], headers=MEDIA_HEADERS)


@router.get("/reveals/{token}")
def revealed_media(request: Request, token: str) -> Response:
    """The original media behind a reviewer's own live reveal; anyone else, or later, gets 404."""
    user, _ = _user(request)
    _, media = _call(lambda: _review(request).revealed_media(token[:100], user))
    if media is None:
        raise Denied(404, "this case has no stored media")
    return Response(media[1], media_type=media[0], headers=MEDIA_HEADERS)


@router.get("/reveals/{token}/entries/{entry_id}")
def revealed_entry_thumb(request: Request, token: str, entry_id: Id64) -> Response:
    """A matched bank entry's thumbnail unshielded, under the same reveal as the case it matched."""
    user, _ = _user(request)
    review = _review(request)
    case_id, _ = _call(lambda: review.revealed_media(token[:100], user))
    item = _call(lambda: _engine(request).items.get(review.get(case_id).item_id))
    if entry_id not in {m.entry_id for m in item.verdict.matches}:
        raise Denied(404, "this bank entry is not one the revealed case matched")
    found = entry_thumbnail(_engine(request).db, entry_id)
    if found is None:
        raise Denied(404, "this bank entry has no stored thumbnail")
    return Response(found[1], media_type=found[0], headers=MEDIA_HEADERS)


@router.post("/cases/{case_id}/reveal")
async def reveal(request: Request, case_id: Id64) -> Response:
    """Reveal, unless a break is due: every ``SEAWALL_REVEAL_BREAK_EVERY`` reveals the reviewer is asked to pause."""
    user, token = _user(request)
    form = await _form(request, token)
    review = _review(request)
    _call(lambda: ensure_case_open_to(review.db, case_id, user))
    done = review.exposure_today(user.username)
    if done and done % review.break_every == 0 and not form.get("after_break"):
        review.break_prompted(user, done)
        return _page(request, user, token, "break.html", case_id=case_id, done=done, cap=review.daily_reveal_cap)
    _call(lambda: review.reveal(case_id, user))
    return RedirectResponse(f"/console/cases/{case_id}#media", status_code=303)


@router.get("/exposure")
def exposure_page(request: Request) -> HTMLResponse:
    """Leads (senior and admin) see how much each reviewer revealed: today and over the last week."""
    user, token = _user(request, "senior")
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    db = _review(request).db
    return _page(request, user, token, "exposure.html", users=_users(request).list_users(),
                 today=counts_by_actor(db, action="media.reveal", since=today),
                 week=counts_by_actor(db, action="media.reveal", since=today - timedelta(days=6)),
                 breaks=counts_by_actor(db, action="exposure.break_prompt", since=today),
                 cap=_review(request).daily_reveal_cap, break_every=_review(request).break_every)


@router.post("/cases/{case_id}/take")
async def take(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    await _form(request, token)
    _call(lambda: _review(request).take(case_id, user))
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/release")
async def release(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    await _form(request, token)
    _call(lambda: _review(request).release(case_id, user))
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/reassign")
async def reassign(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    _call(lambda: _review(request).reassign(case_id, user, form.get("assignee", "")))
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/notes")
async def add_note(request: Request, case_id: Id64) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    _call(lambda: _review(request).add_note(case_id, user, form.get("text", "")))
    return RedirectResponse(f"/console/cases/{case_id}#notes", status_code=303)


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
    try:
        actions = _call(lambda: reviewer_actions(
            _engine(request).registry, user.username, remove=bool(form.get("remove")),
            label=form.get("label_text", ""), strike=bool(form.get("strike")), suspend=form.get("suspend", "")))
        if form.get("cluster") and outcome in ("violating", "not_violating") and bank is None:
            result = _call(lambda: review.decide_cluster(case_id, user, outcome=outcome, labels=labels,
                                                         actions=actions, note=form.get("note", "")))
        else:
            result = _call(lambda: review.decide(case_id, user, outcome=outcome, labels=labels, actions=actions,
                                                 bank=bank, note=form.get("note", "")))
    except Denied as exc:
        if exc.status == 404:
            raise
        return _case_page(request, user, token, case_id, status=exc.status, error=exc.message, posted=form)
    following = _next_case(request, user, after=case_id) if form.get("advance") else None
    if following is not None:
        return RedirectResponse(f"/console/cases/{following}?decided={case_id}", status_code=303)
    return _page(request, user, token, "decided.html", case=review.get(case_id), result=result)


def _next_case(request: Request, user: ConsoleUser, *, after: int) -> int | None:
    """The highest-priority open case this reviewer may work, other than the one just decided."""
    for c in _review(request).waiting(limit=50):
        if c.id != after and c.status == "open" and (c.queue != "senior" or user.has("senior")):
            return c.id
    return None


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
    from seawall.models.labels import taxonomy

    tax = taxonomy()
    return [(f"{ns}:{slug}", str(v.get("title", slug))) for ns in ("behaviour", "ideology")
            for slug, v in tax[ns].items()]


def install(app: FastAPI) -> None:
    """Register the console: its services, its routes, and how its refusals are shown (HTML, not JSON)."""
    engine = app.state.engine
    app.state.console_users = ConsoleUsers(engine.db, free_failures=engine.settings.login_free_failures,
                                           backoff_max_seconds=engine.settings.login_backoff_max_seconds)
    app.state.review = review_service(engine)
    app.state.reports = report_service(engine)
    app.state.appeals = appeal_service(engine)
    from seawall.sharing.import_jobs import ImportJobs

    app.state.import_jobs = ImportJobs()

    async def login_required(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/console/login", status_code=303)

    def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
        token = request.cookies.get(SESSION_COOKIE)
        user = _users(request).resolve(token) if token else None
        if user is None or token is None:
            return _render(request, "error.html", status, message=message, code=code, user=None)
        back = request.headers.get("referer", "")
        back = back if back.startswith(str(request.base_url)) else ""
        return _page(request, user, token, "error.html", status, message=message, code=code, back=back)

    async def denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Denied)
        return await run_in_threadpool(error_page, request, exc.status, exc.code, exc.message)

    async def page_error(request: Request, status: int, code: str, message: str) -> Response:
        return await run_in_threadpool(error_page, request, status, code, message)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Denied, denied)
    #: how the app's generic handlers answer a console address they refuse (an unknown page, a malformed id):
    #: a page with the console's navigation, not the API's JSON
    app.state.console_error_page = page_error
    attach_router(app, router)
    from seawall.api.routes.console_admin import router as admin_router

    attach_router(app, admin_router)
    from seawall.api.routes.console_sources import router as sources_router

    attach_router(app, sources_router)
    from seawall.api.routes.console_banks import router as banks_router

    attach_router(app, banks_router)
    from seawall.api.routes.console_views import router as views_router

    attach_router(app, views_router)

    from seawall.api.routes.console_quality import router as quality_router

    attach_router(app, quality_router)
