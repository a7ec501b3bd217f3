"""``/v1/accounts/{id}/profile`` and ``/reappearance``: who an account claims to be, and whom it resembles.

The platform sends a profile when an account registers or changes its name or avatar; Seawall keeps
the features that survive disguise and checks the account against suspended ones at once, so a
returning account is flagged at registration, before it has posted anything.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from seawall.accounts.recidivism import MAX_NAME_CHARS, ReappearanceService
from seawall.api.auth import require
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.engine import Engine
from seawall.errors import InvalidInput, UnsupportedMedia

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 413, 415, 422)}


def service(request: Request) -> ReappearanceService:
    """The engine's service: it holds the in-memory index of suspended accounts."""
    engine: Engine = request.app.state.engine
    return engine.reappearance


@router.post(
    "/{account_id}/profile",
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "username": {"type": "string", "maxLength": MAX_NAME_CHARS},
                            "display_name": {"type": "string", "maxLength": MAX_NAME_CHARS},
                            "avatar": {"type": "string", "format": "binary"},
                        },
                        # a username, a display name or both
                        "anyOf": [{"required": [key], "properties": {key: {"minLength": 1}}}
                                  for key in ("username", "display_name")],
                    }
                }
            }
        }
    },
)
async def put_profile(request: Request, account_id: str = Path(json_schema_extra={"maxLength": MAX_NAME_CHARS}),
                      _: Principal = Depends(require("submitter"))) -> JSONResponse:
    """Register or update an account's profile (form fields ``username``, ``display_name``, optional
    ``avatar`` image) and check it against suspended accounts.

    The answer has the stored features, the best candidates with scores and evidence, and ``alert``
    when the account was flagged (also sent as the ``account.reappearance`` webhook event).
    """
    engine: Engine = request.app.state.engine
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise UnsupportedMedia("send multipart/form-data (username, display_name, avatar)",
                               code="unsupported_media_type")
    form = await request.form(max_files=1, max_fields=10)
    try:
        fields: dict[str, str] = {}
        for key in ("username", "display_name"):
            value = form.get(key, "")
            if not isinstance(value, str):
                raise InvalidInput(f"{key}: must be a text field", code="invalid_field")
            fields[key] = value
        if not fields["username"] and not fields["display_name"]:
            raise InvalidInput("send a 'username' and/or 'display_name'", code="missing_field")
        upload = form.get("avatar")
        avatar: bytes | None = None
        if upload is not None and not isinstance(upload, UploadFile):
            raise InvalidInput("avatar: must be a file part", code="invalid_field")
        if upload is not None:
            avatar = await upload.read()
    finally:
        await form.close()
    svc = service(request)
    result = await run_in_threadpool(lambda: svc.update_profile(
        account_id, username=fields["username"], display_name=fields["display_name"], avatar=avatar,
        limits=engine.limits))
    if result.get("alert") is not None:
        engine._events_queued()
    return JSONResponse(result)


@router.get("/{account_id}/reappearance", responses=ERRORS)
async def get_reappearance(account_id: str, request: Request,
                           _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Suspended accounts this account resembles, best first, with scores and evidence, and its alerts."""
    svc = service(request)
    return JSONResponse(await run_in_threadpool(lambda: svc.check(account_id)))
