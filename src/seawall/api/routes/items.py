"""``/v1/items``: submit an upload and get its verdict within the request; read it back later."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from seawall.api import offload
from seawall.api.auth import require
from seawall.api.fastpath_prelude import json_body
from seawall.api.schemas import ErrorBody, ItemOut, ItemText, LaterDecision
from seawall.apikeys import Principal
from seawall.engine import Engine
from seawall.errors import Forbidden, InvalidInput, TooLarge, UnsupportedMedia
from seawall.media.content import MAX_TEXT_BYTES, Content
from seawall.media.image import sniff_image
from seawall.media.video import sniff_video
from seawall.models.records import CONTENT_TYPES, Item
from seawall.plugins import Registry
from seawall.review.access import ensure_key_may_act_on_item, item_in_senior_queue
from seawall.uploads.ingest import MAX_CONTEXT_BYTES

router = APIRouter(prefix="/v1/items", tags=["items"])

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (401, 403, 404, 413, 415, 422)
}


def _content_type_for(registry: Registry, declared: str | None, mime: str | None, data: bytes) -> str:
    """Declared type wins; else a recognisable video (animated GIF/WebP included, whatever the MIME type
    says); else the part's MIME type; else sniff for an image; else a plain file."""
    if declared:
        registry.check_content_type(declared)
        return declared
    if sniff_video(data):
        return "video"
    if mime and mime.startswith("image/"):
        return "image"
    if mime and mime.startswith("video/"):
        return "video"
    return "image" if sniff_image(data) else "file"


@router.post(
    "",
    status_code=200,
    response_model=None,
    responses={200: {"model": ItemOut}, **ERRORS},
    openapi_extra={
        "parameters": [
            {"name": "wait", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["final", "stage1"]},
             "description": "final: wait for stage 2 (OCR…) up to timeout_ms; stage1: answer after stage 1"},
            {"name": "timeout_ms", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": 60000}},
        ],
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["content_id"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "text": {"type": "string"},
                            "content_id": {"type": "string"},
                            "account_id": {"type": "string"},
                            "content_type": {"type": "string", "description": (
                                "A registered content type: " + ", ".join(CONTENT_TYPES)
                                + " or one a plugin adds (GET /v1/plugins)")},
                            "keep": {"type": "boolean"},
                            "once": {"type": "boolean"},
                            "context": {"type": "string", "description": "a JSON object"},
                            "reach": {"type": "integer", "minimum": 0,
                                      "description": "Views or followers, if known (raises review priority)"},
                        },
                    }
                },
                "application/json": {"schema": ItemText.model_json_schema()},
            }
        }
    },
)
async def submit_item(request: Request, principal: Principal = Depends(require("submitter"))) -> JSONResponse:
    """Check an upload against every bank before it is published.

    Send either multipart form data (``file`` and/or ``text`` with ``content_id`` and ``account_id``)
    or JSON ``{"content_id", "account_id", "text"}``. Images and text get their verdict in this response;
    ``final: false`` with ``pending: ["ocr"]`` says stage 2 may still change it (then an ``item.redecided``
    event follows). ``?wait=final&timeout_ms=2000`` waits for stage 2 instead.
    """
    engine: Engine = request.app.state.engine
    started = time.perf_counter()
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        # A text-sized body is kept as bytes: the form parser silently reads a field that is not UTF-8 as
        # Latin-1, and only the bytes can tell that apart from a genuine "café" (see _check_form_text).
        length = request.headers.get("content-length", "")
        raw = await request.body() if length.isdigit() and int(length) <= _RAW_FORM_LIMIT else None
        content, content_id, account_id, keep, once, context, reach = await form_item(request, engine, raw)
    elif ctype.startswith("application/json"):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_JSON_ITEM_BYTES:
            raise _json_too_large()
        body = await request.body()
        if len(body) > MAX_JSON_ITEM_BYTES:
            raise _json_too_large()
        # parsing megabytes holds the CPU (and the GIL) for tens of milliseconds: a worker process does it,
        # so probes and other uploads still answer
        if len(body) <= _INLINE_JSON_BYTES:
            payload, content = _text_item(engine, body)
        else:
            parsed, error = await offload.run(offload.parse_json_item, body)
            if parsed is None:
                raise InvalidInput(error, code="invalid_request")
            payload, content = parsed, engine.content("text", text=parsed.text)
        content_id, account_id = payload.content_id, payload.account_id
        keep, once, context = payload.keep, payload.once, payload.context
        reach = payload.reach
    else:
        raise UnsupportedMedia(
            "send multipart/form-data (a file) or application/json (text)", code="unsupported_media_type"
        )
    return await store_and_answer(request, engine, principal, content, started, content_id=content_id or "",
                                  account_id=account_id, keep=keep, once=once, context=context, reach=reach)


class FormItem(NamedTuple):
    """A multipart (or URL-encoded) upload's content and fields, checked."""

    content: Content
    content_id: str | None
    account_id: str | None
    keep: bool
    once: bool
    context: dict[str, Any] | None
    reach: int | None


#: Parts of a form upload: one file, and few fields (the item's own and a text).
FORM_MAX_FILES = 1
FORM_MAX_FIELDS = 20
#: The largest non-file part, in bytes: Starlette's parser's default, which the route keeps.
FORM_MAX_PART = 1024 * 1024


async def form_item(request: Request, engine: Engine, raw: bytes | None, form: FormData | None = None) -> FormItem:
    """Parse and check a form upload (``raw``: the whole body when it was read first, see
    :func:`_check_form_text`; ``form``: the body already parsed, by :mod:`seawall.api.formparse`): shared by
    this route and the image-upload fast path (:mod:`seawall.api.imagepath`), so the two cannot read a
    form differently.
    """
    if form is None:
        try:
            form = await request.form(max_files=FORM_MAX_FILES, max_fields=FORM_MAX_FIELDS)
        except HTTPException as exc:  # the parser caps a non-file field at 1 MiB: only a text can reach it
            if exc.status_code == 400 and "maximum size" in str(exc.detail):
                raise TooLarge(f"the text is over the limit of {MAX_TEXT_BYTES:,} bytes of UTF-8",
                               code="text_too_large") from None
            raise
    try:
        upload = form.get("file")
        text = form.get("text")
        fields = {k: form.get(k) for k in ("content_id", "account_id", "content_type", "keep", "once",
                                           "context", "reach")}
        if upload is not None and not isinstance(upload, UploadFile):
            raise InvalidInput("file: must be a file part", code="invalid_field")
        if text is not None and not isinstance(text, str):
            raise InvalidInput("text: must be a text field", code="invalid_field")
        for key, value in fields.items():
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"{key}: must be a text field", code="invalid_field")
        if upload is None and text is None:
            raise InvalidInput("send a 'file' part or a 'text' field", code="missing_content")
        if upload is not None:
            data = await upload.read()
            kind = _content_type_for(engine.registry, fields["content_type"], upload.content_type, data)  # type: ignore[arg-type]
            if kind == "text":
                raise InvalidInput("content_type: text items are sent as a 'text' field", code="invalid_field")
            content = engine.content(kind, data=data)
        else:
            assert text is not None
            _check_form_text(text, raw)
            content = engine.content("text", text=text)
    finally:
        await form.close()
    content_id, account_id = fields["content_id"], fields["account_id"]
    keep, once = _flag(fields["keep"], "keep"), _flag(fields["once"], "once")
    context = _json_object(fields["context"])
    reach = _reach(fields["reach"])  # type: ignore[arg-type]
    return FormItem(content, content_id, account_id, keep, once, context, reach)  # type: ignore[arg-type]


async def store_and_answer(request: Request, engine: Engine, principal: Principal, content: Content,
                           started: float, *, content_id: str, account_id: str | None, keep: bool, once: bool,
                           context: dict[str, Any] | None, reach: int | None) -> JSONResponse:
    """Decide and store a parsed upload, then answer: shared by this route and the text-item fast path
    (:mod:`seawall.api.textpath`), so the two cannot answer differently once the request is read."""
    item = await store_item(request, engine, principal, content, content_id=content_id, account_id=account_id,
                            keep=keep, once=once, context=context, reach=reach)
    if item.status == "pending":
        return pending_answer(item)
    request.app.state.metrics.observe_item(item, time.perf_counter() - started)
    return JSONResponse(item.to_dict())


async def store_item(request: Request, engine: Engine, principal: Principal, content: Content, *,
                     content_id: str, account_id: str | None, keep: bool, once: bool,
                     context: dict[str, Any] | None, reach: int | None) -> Item:
    """Decide and store a parsed upload (waiting for stage 2 when asked): :func:`store_and_answer` without
    the answer, which the text-item fast path writes itself."""
    wait_s = _wait_seconds(request, engine, content.content_type)
    # a text item is decided on the event loop when that cannot wait on the store; else in a thread
    item = None if once else await engine.submit_on_loop(
        content, content_id=content_id, account_id=account_id, submitted_by=principal.key_id, keep=keep,
        context=context, reach=reach)
    if item is None:
        item = await run_in_threadpool(
            engine.submit, content, content_id=content_id, account_id=account_id,
            submitted_by=principal.key_id, keep=keep, context=context, once=once, reach=reach,
        )
    if wait_s > 0 and not item.final:
        item = await run_in_threadpool(engine.wait_final, item, wait_s)
    return item


def item_answer(request: Request, item: Item, started: float) -> JSONResponse | bytes:
    """A fast path's answer for a stored item: a 200's body as bytes (the route's ``JSONResponse`` body, sent
    by :func:`seawall.api.fastpath_prelude.send_json_ok`), the 202 as a response; counted as the route does."""
    if item.status == "pending":
        return pending_answer(item)
    request.app.state.metrics.observe_item(item, time.perf_counter() - started)
    return json_body(item.to_dict())


def pending_answer(item: Item) -> JSONResponse:
    """The 202 for an item still waiting for its background stage."""
    return JSONResponse(item.to_dict(), status_code=202, headers={"Location": f"/v1/items/{item.id}"})


def _wait_seconds(request: Request, engine: Engine, content_type: str) -> float:
    """How long this request waits for stage 2: ``?wait=final`` (up to ``timeout_ms``), ``?wait=stage1`` (not
    at all), or by default the ``SEAWALL_STAGE2_WAIT`` content types."""
    if request.scope.get("query_string"):
        wait = request.query_params.get("wait")
        raw_timeout = request.query_params.get("timeout_ms")
    else:  # most uploads: no query string to parse
        wait = raw_timeout = None
    settings = engine.settings
    if wait not in (None, "final", "stage1"):
        raise InvalidInput("wait: final (wait for stage 2) or stage1 (answer at once)", code="invalid_field")
    timeout_ms = settings.stage2_wait_timeout_ms
    if raw_timeout is not None:
        if not raw_timeout.isdigit() or int(raw_timeout) > 60_000:
            raise InvalidInput("timeout_ms: a whole number of milliseconds from 0 to 60000", code="invalid_field")
        timeout_ms = int(raw_timeout)
    if wait is None:
        wait = "final" if content_type in {t for t in settings.stage2_wait.split(",") if t} else "stage1"
    return timeout_ms / 1000 if wait == "final" else 0.0


def _flag(value: object, name: str) -> bool:
    if value is None or value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise InvalidInput(f"{name}: must be true or false", code="invalid_field")


def _json_object(value: object) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    try:
        parsed = json.loads(str(value))
    except ValueError:
        raise InvalidInput("context: must be a JSON object", code="invalid_field") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("context: must be a JSON object", code="invalid_field")
    return parsed


def _reach(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise InvalidInput("reach: a whole number of views or followers", code="invalid_field")
    return int(value)


#: The largest JSON body a text item can have: its text and kept context escaped at worst (``\\u0001``: six
#: bytes per byte) and room for the other fields. Anything longer is refused before it is read.
MAX_JSON_ITEM_BYTES = 6 * (MAX_TEXT_BYTES + MAX_CONTEXT_BYTES) + 64 * 1024
#: JSON bodies up to this size are parsed on the event loop; larger ones in a worker thread.
_INLINE_JSON_BYTES = 64 * 1024


def _json_too_large() -> TooLarge:
    return TooLarge(f"a JSON text item is at most {MAX_JSON_ITEM_BYTES:,} bytes (its text at most "
                    f"{MAX_TEXT_BYTES:,} bytes of UTF-8)", code="text_too_large")


def _text_item(engine: Engine, body: bytes) -> tuple[ItemText, Content]:
    """Parse and check a JSON text item; the text's size limit is enforced by ``engine.content``."""
    try:
        payload = ItemText.model_validate_json(body)
    except ValueError as exc:
        raise InvalidInput(offload.first_error(exc), code="invalid_request") from None
    return payload, engine.content("text", text=payload.text)


#: Form bodies up to this size are read whole first (a text item and its fields; files are larger).
_RAW_FORM_LIMIT = MAX_TEXT_BYTES + 64 * 1024


def _check_form_text(text: str, raw: bytes | None) -> None:
    """422 ``invalid_text`` when the form's text field was not UTF-8.

    The parser falls back to Latin-1 for such a field, which yields only characters up to U+00FF. The
    field was really invalid exactly when those characters, as Latin-1 bytes, are not UTF-8 *and* occur in
    the body as sent; a valid "café" arrives as ``caf\xc3\xa9`` and is never mistaken for ``caf\xe9``.
    """
    if raw is None or text.isascii() or max(map(ord, text)) > 0xFF:
        return
    latin1 = text.encode("latin-1")
    try:
        latin1.decode("utf-8")
    except UnicodeDecodeError:
        if latin1 in raw:
            raise InvalidInput("text: is not valid UTF-8", code="invalid_text") from None


@router.get("/{item_id}", response_model=None, responses={200: {"model": ItemOut}, **ERRORS})
async def get_item(item_id: str, request: Request,
                   _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """An item as stored: its signals, matches, verdict and the reasons for it."""
    engine: Engine = request.app.state.engine
    item = await run_in_threadpool(engine.items.get, item_id)
    return JSONResponse(item.to_dict())



@router.get("", response_model=None, responses=ERRORS)
async def find_items(request: Request, content_id: str = Query(min_length=1, max_length=300),
                     _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Items stored under the platform's own id for an upload, newest first (e.g. a Matrix event id)."""
    engine: Engine = request.app.state.engine
    items = await run_in_threadpool(engine.items.find_by_content_id, content_id)
    return JSONResponse([i.to_dict() for i in items])


@router.get("/{item_id}/content", responses=ERRORS)
async def item_content(item_id: str, request: Request,
                       principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    """The kept text or bytes of an item and the platform's context: evidence for review, appeals and
    the six-month preservation of removed content. Content of items that were allowed is kept only
    when the submitter asked (``keep``). An item with a senior-queue case (an escalation or appeal) is
    admin-only, as its case is closed to plain reviewers in the console."""
    engine: Engine = request.app.state.engine
    if principal.role != "admin" and await run_in_threadpool(item_in_senior_queue, engine.db, item_id):
        raise Forbidden("this item has a case in the senior queue: its content needs the admin role",
                        code="forbidden")
    kept = await run_in_threadpool(engine.items.kept_content, item_id)
    data: bytes = kept.pop("data")
    if kept["media_type"].startswith("text/"):
        kept["text"] = data.decode("utf-8", errors="replace")
    else:
        kept["data_base64"] = base64.b64encode(data).decode()
    kept["size_bytes"] = len(data)
    kept["created_at"] = kept["created_at"].isoformat() if kept["created_at"] else None
    return JSONResponse(kept)


@router.post("/{item_id}/actions", status_code=201, responses=ERRORS)
async def decide_later(item_id: str, body: LaterDecision, request: Request,
                       principal: Principal = Depends(require("reviewer"))) -> JSONResponse:
    """Decide about an item after upload (``remove``, ``label: "text"``, ``suspend: 7``, ``strike``…).

    The actions run as they would from a rule and announce themselves through webhooks, so a connected
    platform takes the item down, labels it or suspends its uploader. An item whose open case waits in
    the senior queue is decided there: a reviewer key gets 403 (an admin key may still act).
    """
    engine: Engine = request.app.state.engine
    await run_in_threadpool(ensure_key_may_act_on_item, engine.db, item_id, principal)
    decision = await run_in_threadpool(lambda: engine.decide_later(item_id, body.actions, note=body.note,
                                                                   decided_by=f"key:{principal.key_id}"))
    decision.pop("queued", None)
    return JSONResponse(decision, status_code=201)
