"""``/v1/cases``: the review queue for a platform's own tools, with the console's filters and rules.

A platform that already has a moderation tool drives review from it: list and filter cases, take,
release, reassign, decide and annotate them. Every call that changes a case names the console user it
acts for in ``X-Seawall-Reviewer``, and that person's console role applies exactly as in the console
(senior-queue cases and appeals need a senior; bank edits need a senior; the reviewer whose decision
is appealed may not decide the appeal). The API key (``reviewer`` or ``admin``) vouches for the tool;
the audit log names the person. A ``reviewer`` key stands for a plain reviewer's tool: it neither lists
nor opens senior-queue cases (nor cases about an item whose open case is there), whoever it names;
those need an ``admin`` key.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.declared import NOT_BLANK, SUSPEND, labels
from seawall.api.edge import Id64
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.errors import InvalidInput, Unauthorized
from seawall.review.access import ensure_key_may_open_case, ensure_key_queue_visible
from seawall.review.appeals import APPEAL_OUTCOMES, AppealService
from seawall.review.cases import CaseView, ReviewService
from seawall.review.choices import reviewer_actions
from seawall.review.quality import SecondReviews
from seawall.review.search import CaseFilter
from seawall.review.users import ConsoleUser, ConsoleUsers

router = APIRouter(prefix="/v1/cases", tags=["review"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422, 429)}
REVIEWER_HEADER = "X-Seawall-Reviewer"
#: The header every call that changes a case needs, read by :func:`_acting` (which answers its absence
#: with ``reviewer_required``, after authentication): declared for the document only.
ACTING = {"parameters": [{"name": REVIEWER_HEADER, "in": "header", "required": True, "schema": {
    "type": "string", "pattern": NOT_BLANK, "description": "The enabled console user this call acts for"}}]}


def case_dict(c: CaseView) -> dict[str, Any]:
    sc = c.score()
    return {"id": c.id, "item_id": c.item_id, "kind": c.kind, "queue": c.queue, "status": c.status,
            "assignee": c.assignee, "reason": c.reason, "source": c.source, "tier": c.tier, "priority": c.priority,
            "score": sc.value, "reach": c.reach, "report_count": c.report_count, "appeal_id": c.appeal_id,
            "created_at": c.created_at.isoformat(), "sla_due_at": c.sla_due_at.isoformat(),
            "sla_state": c.sla_state(), "decided_at": c.decided_at.isoformat() if c.decided_at else None,
            "media_type": c.media_type,
            "decisions": [{**d, "at": d["at"].isoformat()} for d in c.decisions],
            "notes": [{**n, "at": n["at"].isoformat()} for n in c.notes]}


async def _open_to_key(request: Request, case_id: int, principal: Principal) -> None:
    """404 for an unknown case; 403 for a senior-queue case and a reviewer key (see module docstring)."""
    await run_in_threadpool(ensure_key_may_open_case, _review(request).db, case_id, principal)


def _review(request: Request) -> ReviewService:
    review: ReviewService = request.app.state.review
    return review


def _acting(request: Request) -> ConsoleUser:
    """The console user named in ``X-Seawall-Reviewer``; their console role decides what they may do."""
    name = request.headers.get(REVIEWER_HEADER, "").strip()
    if not name:
        raise InvalidInput(f"send the console user this call acts for in the {REVIEWER_HEADER} header",
                           code="reviewer_required")
    users: ConsoleUsers = request.app.state.console_users
    user = users.by_name(name)
    if user is None:
        raise Unauthorized(f"{REVIEWER_HEADER}: no enabled console user {name!r}", code="unknown_reviewer")
    return user


@router.get("", responses=ERRORS)
async def list_cases(request: Request, principal: Principal = Depends(require("reviewer")),
                     queue: str = "", kind: str = "", status: str = "undecided", account_id: str = "",
                     content_id: str = "", bank: str = "", label: str = "", signal: str = "", source: str = "",
                     assignee: str = "", sla: str = "",
                     older_than_hours: float | None = Query(default=None, ge=0, le=876_000),
                     sort: str = "priority", limit: int = Query(default=50, ge=1, le=500),
                     offset: int = Query(default=0, ge=0, le=1_000_000)) -> JSONResponse:
    """Cases matching every filter given (as in the console's queue), most urgent first by default.

    ``status``: undecided (default), open, assigned, decided or any; ``sla``: red or ok; ``sort``:
    priority, oldest, newest or sla; ``signal``: a hash or URL the item's signals contain. A reviewer
    key sees the standard queue only (``queue=senior`` is a 403).
    """
    queue = ensure_key_queue_visible(principal, queue)  # a reviewer key lists the standard queue only
    f = CaseFilter(queue=queue, kind=kind, status=status, account_id=account_id, content_id=content_id, bank=bank,
                   label=label, signal=signal, source=source, assignee=assignee, sla=sla,
                   older_than_hours=older_than_hours, sort=sort)
    found = await run_in_threadpool(lambda: _review(request).search(f, limit=limit, offset=offset))
    return JSONResponse({"cases": [case_dict(c) for c in found], "limit": limit, "offset": offset})


@router.get("/{case_id}", responses=ERRORS)
async def get_case(case_id: Id64, request: Request,
                   principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    """One case with its decisions and notes.

    While a blind second review of the decision waits, the decisions are left out, as on the console's
    case page: only an admin key, or a call acting for the first reviewer or a console admin, sees them.
    """
    await _open_to_key(request, case_id, principal)
    case = await run_in_threadpool(lambda: _review(request).get(case_id))
    if case.status == "decided" and await run_in_threadpool(lambda: _decision_hidden(request, case_id, principal)):
        case.decisions = []
    return JSONResponse(case_dict(case))


def _decision_hidden(request: Request, case_id: int, principal: Principal) -> bool:
    """Whether a waiting blind second review hides the case's decisions from this caller."""
    if principal.role == "admin":
        return False
    reviews = SecondReviews(_review(request).db)
    name = request.headers.get(REVIEWER_HEADER, "").strip()
    users: ConsoleUsers = request.app.state.console_users
    user = users.by_name(name) if name else None
    if user is not None:
        return reviews.hides_decision(case_id, user)
    return reviews.blind_review_waits(case_id)


@router.post("/{case_id}/take", responses=ERRORS, openapi_extra=ACTING)
async def take_case(case_id: Id64, request: Request,
                    principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    user = _acting(request)
    await _open_to_key(request, case_id, principal)
    review = _review(request)
    await run_in_threadpool(lambda: review.take(case_id, user))
    return JSONResponse(case_dict(review.get(case_id)))


@router.post("/{case_id}/release", responses=ERRORS, openapi_extra=ACTING)
async def release_case(case_id: Id64, request: Request,
                       principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    user = _acting(request)
    await _open_to_key(request, case_id, principal)
    review = _review(request)
    await run_in_threadpool(lambda: review.release(case_id, user))
    return JSONResponse(case_dict(review.get(case_id)))


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str = Field(min_length=1, max_length=100, description="The console user who gets the case")


@router.post("/{case_id}/reassign", responses=ERRORS, openapi_extra=ACTING)
async def reassign_case(case_id: Id64, body: ReassignIn, request: Request,
                        principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    user = _acting(request)
    await _open_to_key(request, case_id, principal)
    review = _review(request)
    await run_in_threadpool(lambda: review.reassign(case_id, user, body.assignee))
    return JSONResponse(case_dict(review.get(case_id)))


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


@router.post("/{case_id}/notes", status_code=201, responses=ERRORS, openapi_extra=ACTING)
async def add_note(case_id: Id64, body: NoteIn, request: Request,
                   principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    user = _acting(request)
    await _open_to_key(request, case_id, principal)
    review = _review(request)
    await run_in_threadpool(lambda: review.add_note(case_id, user, body.text))
    return JSONResponse(case_dict(review.get(case_id)), status_code=201)


class DecisionIn(BaseModel):
    # a violating decision either removes or labels the item (reviewer_actions refuses both)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": {
        "required": ["outcome", "remove", "label_text"],
        "properties": {"outcome": {"const": "violating"}, "remove": {"const": True},
                       "label_text": {"pattern": NOT_BLANK}}}})
    outcome: Literal["violating", "not_violating", "escalate", "upheld", "rejected"] = Field(
        description="violating, not_violating or escalate; for an appeal case: upheld or rejected")
    labels: list[str] = Field(default_factory=list, max_length=50, json_schema_extra=labels())
    remove: bool = False
    label_text: str = Field(default="", max_length=500, description="Show the item behind this warning label")
    strike: bool = False
    suspend: str = Field(default="", max_length=20, description="A number of days, 'default' or 'permanent'",
                         json_schema_extra={"pattern": SUSPEND})
    bank: str | None = Field(default=None, max_length=100, description="Teach this block/allow bank (senior)")
    note: str = Field(default="", max_length=2000)


@router.post("/{case_id}/decide", responses=ERRORS, openapi_extra=ACTING)
async def decide_case(case_id: Id64, body: DecisionIn, request: Request,
                      principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    """Decide as in the console: actions run, the bank learns, the decision is audited and announced."""
    user = _acting(request)
    await _open_to_key(request, case_id, principal)
    review = _review(request)

    def run() -> dict[str, Any]:
        if body.outcome in APPEAL_OUTCOMES:
            appeals: AppealService = request.app.state.appeals
            return {"appeal": appeals.decide(case_id, user, outcome=body.outcome, note=body.note)}
        actions = reviewer_actions(request.app.state.engine.registry, user.username, remove=body.remove,
                                   label=body.label_text, strike=body.strike, suspend=body.suspend) \
            if body.outcome == "violating" else []
        return review.decide(case_id, user, outcome=body.outcome, labels=body.labels, actions=actions,
                             bank=body.bank, note=body.note)

    result = await run_in_threadpool(run)
    return JSONResponse({"case": case_dict(review.get(case_id)), "result": _jsonable(result)})


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
