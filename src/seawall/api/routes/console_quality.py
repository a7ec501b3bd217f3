"""Console pages for quality: the second-review queue, the blind second-review page, and its result.

The second reviewer sees the case's content (shielded as everywhere, the reveal as on the case page)
and the automated reasons it was held, never the first decision, its labels or who made it; those are
shown only once the second judgement is recorded, next to whether the two agreed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seawall.api.edge import Id64
from seawall.api.routes.console import _call, _engine, _form, _label_choices, _page, _review, _user
from seawall.review.quality import SecondReviews
from seawall.review.wording import match_reasons

router = APIRouter(prefix="/console", include_in_schema=False)


def _second(request: Request) -> SecondReviews:
    return SecondReviews(_review(request).db)


@router.get("/second-reviews")
def second_review_queue(request: Request) -> HTMLResponse:
    """Sampled decisions waiting for a second judgement, oldest first, none of the viewer's own."""
    user, token = _user(request)
    return _page(request, user, token, "second_reviews.html", waiting=_second(request).waiting(user),
                 share=_engine(request).settings.second_review_share)


@router.get("/second-reviews/{review_id}")
def second_review_page(request: Request, review_id: Id64) -> HTMLResponse:
    """The blind page: the case's content and why it was held, with the two outcomes to choose from."""
    user, token = _user(request)
    found = _call(lambda: _second(request).blind(review_id, user))
    review = _review(request)
    case = _call(lambda: review.get(found["case_id"]))
    item = _call(lambda: _engine(request).items.get(case.item_id))
    text = None
    if case.media_type and case.media_type.startswith("text/"):
        media = review.media(case.id)
        text = media[1].decode("utf-8", "replace")[:20_000] if media else None
    return _page(request, user, token, "second_review.html", review=found, case=case, text=text,
                 match_reasons=match_reasons(item.verdict.matches), labels=_label_choices())


@router.post("/second-reviews/{review_id}")
async def submit_second_review(request: Request, review_id: Id64) -> Response:
    user, token = _user(request)
    form = await _form(request, token)
    labels = [str(x) for x in form.get("labels", [])]
    result = _call(lambda: _second(request).submit(review_id, user, outcome=form.get("outcome", ""), labels=labels))
    return _page(request, user, token, "second_review_done.html", result=result)
