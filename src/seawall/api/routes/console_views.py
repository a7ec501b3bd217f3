"""Console pages for a reviewer's saved queue views: save the queue's current filters and sort under a
name, list them, open one (a redirect to the queue) and delete one. Each reviewer sees only their own.

Same rules as the rest of the console: a session is needed, every form carries the session's CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from seawall.api.edge import Id64
from seawall.api.routes.console import _call, _form, _page, _review, _user
from seawall.review.search import CaseFilter
from seawall.review.views import SavedViews

router = APIRouter(prefix="/console", include_in_schema=False)

#: The queue's filter fields a view keeps (the queue page's form and query string use the same names).
FILTER_FIELDS = ("queue", "kind", "account_id", "content_id", "bank", "label", "signal", "source", "sla", "sort",
                 "status", "assignee")


def _views(request: Request) -> SavedViews:
    return SavedViews(_review(request).db)


@router.get("/views")
def views_page(request: Request) -> HTMLResponse:
    user, token = _user(request)
    return _page(request, user, token, "views.html", views=_views(request).for_user(user))


@router.post("/views")
async def save_view(request: Request) -> Response:
    """Save the filters posted from the queue page under a name; saving the same again changes nothing."""
    user, token = _user(request)
    form = await _form(request, token)
    values = {k: str(form.get(k) or "").strip()[:300] for k in FILTER_FIELDS}
    f = CaseFilter(queue=values["queue"], kind=values["kind"], account_id=values["account_id"],
                   content_id=values["content_id"], bank=values["bank"], label=values["label"],
                   signal=values["signal"], source=values["source"], sla=values["sla"],
                   sort=values["sort"] or "priority", status=values["status"] or "undecided",
                   assignee=values["assignee"])
    view, created = _call(lambda: _views(request).save(user, str(form.get("name", "")), f))
    sep = "&" if view.query else ""
    return RedirectResponse(f"/console/queue?{view.query}{sep}saved={'new' if created else 'same'}",
                            status_code=303)


@router.get("/views/{view_id}")
def open_view(request: Request, view_id: Id64) -> Response:
    user, _ = _user(request)
    view = _call(lambda: _views(request).get(user, view_id))
    return RedirectResponse(view.href, status_code=303)


@router.post("/views/{view_id}/delete")
async def delete_view(request: Request, view_id: Id64) -> Response:
    user, token = _user(request)
    await _form(request, token)
    _call(lambda: _views(request).delete(user, view_id))
    return RedirectResponse("/console/views", status_code=303)
