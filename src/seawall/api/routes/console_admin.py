"""Console pages beyond the queue: the workload dashboard, a reviewer's own preferences, admin pages.

Same rules as the rest of the console (see ``console.py``): the session and role are checked on the
server for every page, and every form that changes something carries the session's CSRF token and
is written to the audit log by the service it calls.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from seawall.api.routes.console import _call, _engine, _form, _page, _review, _user, _users
from seawall.review.audit import counts_by_actor
from seawall.review.dashboard import dashboard, duration
from seawall.review.quality import SecondReviews
from seawall.review.users import ROLES, SHIELDS
from seawall.store.tables import utcnow
from seawall.web.charts import bar_chart, line_chart

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/dashboard")
def dashboard_page(request: Request) -> HTMLResponse:
    user, token = _user(request)
    d = dashboard(_review(request).db)
    charts = {
        "tiers": bar_chart(d.open_by_tier, title="Open cases by tier"),
        "labels": bar_chart(d.decisions_per_label, title="Violating decisions per label (30 days)"),
        "days": line_chart(d.decisions_per_day, title="Decisions per day (14 days)"),
    }
    return _page(request, user, token, "dashboard.html", d=d, charts=charts, median=duration(d.median_seconds),
                 p90=duration(d.p90_seconds), agreement=SecondReviews(_review(request).db).agreement(),
                 share=_engine(request).settings.second_review_share)


@router.get("/preferences")
def preferences_page(request: Request, saved: str = "") -> HTMLResponse:
    user, token = _user(request)
    return _page(request, user, token, "preferences.html", shields=SHIELDS, saved=bool(saved))


@router.post("/preferences")
async def save_preferences(request: Request) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    _call(lambda: _users(request).set_shield(user, form.get("shield", "")))
    return RedirectResponse("/console/preferences?saved=1", status_code=303)


@router.get("/admin/users")
def users_page(request: Request) -> HTMLResponse:
    user, token = _user(request, "admin")
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    exposure = counts_by_actor(_review(request).db, action="media.reveal", since=today)
    return _page(request, user, token, "admin_users.html", users=_users(request).list_users(), roles=ROLES,
                 exposure_by_user=exposure)


@router.post("/admin/users")
async def create_user(request: Request) -> Response:
    user, token = _user(request, "admin")
    form = await _form(request, token)
    _call(lambda: _users(request).create(form.get("username", ""), form.get("password", ""),
                                         form.get("role", "reviewer"), actor=user.username))
    return RedirectResponse("/console/admin/users", status_code=303)


@router.post("/admin/users/{username}")
async def update_user(request: Request, username: str) -> Response:
    user, token = _user(request, "admin")
    form = await _form(request, token)

    def flag(name: str) -> bool | None:
        value = form.get(name)
        return None if value in (None, "") else value == "1"

    _call(lambda: _users(request).update(username, actor=user, role=form.get("role") or None,
                                         disabled=flag("disabled"), light_shield_allowed=flag("light_shield")))
    return RedirectResponse("/console/admin/users", status_code=303)


@router.get("/admin/keys")
def keys_page(request: Request) -> HTMLResponse:
    user, token = _user(request, "admin")
    return _page(request, user, token, "admin_keys.html", keys=_engine(request).api_keys.list_keys())

