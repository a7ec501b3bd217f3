"""``/v1/reports``: a platform forwards its users' reports of an item into the review queue.

The report may carry the reported content (``content_text`` for a text item, or a ``file`` part of a
multipart form): an item allowed at upload is not kept by default, and a reviewer should not judge a
report blind. Seawall keeps it only if its SHA-256 is the item's
(:func:`seawall.review.reports.check_reported_content`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from seawall.api import offload
from seawall.api.auth import require
from seawall.api.edge import StoredText
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.errors import InvalidInput, UnsupportedMedia
from seawall.media.content import MAX_TEXT_BYTES
from seawall.review.reports import ReportService, categories

router = APIRouter(prefix="/v1/reports", tags=["review"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 413, 415, 422)}


class ReportIn(BaseModel):
    # exactly one of item_id and content_id, not empty (ReportService._resolve)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}
        for key in ("item_id", "content_id")]})
    item_id: StoredText | None = Field(default=None, max_length=32, description="Seawall's item id")
    content_id: StoredText | None = Field(default=None, max_length=300, description="Or the platform's content id")
    reporter_account: StoredText | None = Field(default=None, max_length=300,
                                                description="Who reported (pseudonymous)")
    category: StoredText = Field(min_length=1, max_length=64, json_schema_extra={"enum": [c for c in categories()]},
                                 description="A behaviour slug of the taxonomy, or 'other'")
    text: StoredText = Field(default="", max_length=5_000, description="What the reporter wrote, if anything")
    content_text: StoredText | None = Field(
        default=None, max_length=MAX_TEXT_BYTES,
        description="The reported text item's text exactly as submitted, kept for the reviewer when Seawall did "
                    "not keep it at upload (refused unless its SHA-256 is the item's)")


_FORM_FIELDS = ("item_id", "content_id", "reporter_account", "category", "text", "content_text")
_FORM_SCHEMA = {"type": "object", "required": ["category"], "properties": {
    **{name: {"type": "string"} for name in _FORM_FIELDS},
    "file": {"type": "string", "format": "binary",
             "description": "The reported item's bytes as submitted (refused unless its SHA-256 is the item's)"}}}


@router.post("", status_code=201, responses=ERRORS, openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": ReportIn.model_json_schema()},
    "multipart/form-data": {"schema": _FORM_SCHEMA}}}})
async def create_report(request: Request, principal: Principal = Depends(require("submitter"))) -> JSONResponse:
    """Queue a reported item for review; reports of the same item share one case and raise its priority.

    Send JSON, or a multipart form with the same fields and the reported media as ``file``.
    """
    body, content = await _read_report(request)
    if body.content_text is not None:
        if content is not None:
            raise InvalidInput("send the reported content once: content_text or file", code="invalid_request")
        content = body.content_text.encode("utf-8")
    service: ReportService = request.app.state.reports
    out = await run_in_threadpool(lambda: service.report(
        item_id=body.item_id, content_id=body.content_id, category=body.category,
        reporter_account=body.reporter_account, text=body.text, submitted_by=principal.key_id, content=content))
    return JSONResponse(out, status_code=201 if out["created"] else 200)


async def _read_report(request: Request) -> tuple[ReportIn, bytes | None]:
    """The report's fields and the file sent with it, from JSON or a form."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        return _validated(ReportIn.model_validate_json, await request.body()), None
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise UnsupportedMedia("send application/json, or a form (multipart/form-data with the reported file)",
                               code="unsupported_media_type")
    form = await request.form(max_files=1, max_fields=len(_FORM_FIELDS))
    try:
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name == "file":
                continue
            if not isinstance(value, str):
                raise InvalidInput(f"{name}: must be a text field", code="invalid_field")
            fields[name] = value
        upload = form.get("file")
        if upload is not None and not isinstance(upload, UploadFile):
            raise InvalidInput("file: must be a file part", code="invalid_field")
        body = _validated(ReportIn.model_validate, fields)
        return body, (await upload.read() if upload is not None else None)
    finally:
        await form.close()


def _validated(parse: Any, raw: Any) -> ReportIn:
    try:
        body: ReportIn = parse(raw)
    except ValueError as exc:
        raise InvalidInput(offload.first_error(exc), code="invalid_request") from None
    return body
