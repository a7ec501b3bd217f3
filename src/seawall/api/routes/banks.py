"""``/v1/banks``: banks of known material, their entries, bulk import and export."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from typing import IO, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import UploadFile

from seawall.api import offload
from seawall.api.auth import require
from seawall.api.edge import MAX_INT64, Id64, check_stored
from seawall.api.schemas import (
    BankCreate,
    BankOut,
    BankPatch,
    EntryBatchOut,
    EntryCreate,
    EntryOut,
    EntryTextCreate,
    ErrorBody,
    ImportOut,
    RehashIn,
    RehashOut,
)
from seawall.api.serialize import bank_dict
from seawall.apikeys import Principal
from seawall.banks.service import EntryInput
from seawall.engine import Engine
from seawall.errors import InvalidInput, invalid_input_from
from seawall.media.content import Content, banked_kind
from seawall.plugins import registry
from seawall.sharing.importer import import_file, lines_of

router = APIRouter(prefix="/v1/banks", tags=["banks"])

ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 413, 422)}
admin = require("admin")
reader = require("reviewer")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("", response_model=list[BankOut], responses=ERRORS)
async def list_banks(request: Request, _: Principal = Depends(reader)) -> JSONResponse:
    banks = await run_in_threadpool(_engine(request).banks.list_banks)
    return JSONResponse([bank_dict(b) for b in banks])


@router.post("", status_code=201, response_model=BankOut, responses=ERRORS)
async def create_bank(body: BankCreate, request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    engine = _engine(request)
    bank = await run_in_threadpool(lambda: engine.banks.create(**body.model_dump()))
    engine.matcher.reload_banks()
    return JSONResponse(bank_dict(bank), status_code=201)


@router.get("/{name}", response_model=BankOut, responses=ERRORS)
async def get_bank(name: str, request: Request, _: Principal = Depends(reader)) -> JSONResponse:
    bank = await run_in_threadpool(_engine(request).banks.get, name)
    return JSONResponse(bank_dict(bank))


@router.patch("/{name}", response_model=BankOut, responses=ERRORS)
async def update_bank(name: str, body: BankPatch, request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{key}: may not be null", code="invalid_field")
    engine = _engine(request)
    bank = await run_in_threadpool(engine.update_bank, name, changes)
    return JSONResponse(bank_dict(bank))


@router.delete("/{name}", status_code=204, responses=ERRORS)
async def delete_bank(name: str, request: Request, _: Principal = Depends(admin)) -> None:
    await run_in_threadpool(_engine(request).delete_bank, name)


@router.get("/{name}/entries", response_model=list[EntryOut], responses=ERRORS)
async def list_entries(name: str, request: Request, after: int = Query(0, ge=0, le=MAX_INT64),
                       limit: int = Query(100, ge=1, le=1000), _: Principal = Depends(reader)) -> JSONResponse:
    """Entries in id order; page with ``after`` = the last id seen."""
    entries = await run_in_threadpool(lambda: _engine(request).banks.list_entries(name, after_id=after, limit=limit))
    return JSONResponse([e.to_dict() for e in entries])


@router.post(
    "/{name}/entries",
    status_code=201,
    response_model=None,
    # JSON adds one entry (EntryOut); a multipart file adds one per signal ({entries, refused}).
    responses={201: {"model": EntryOut | EntryBatchOut}, 200: {"model": EntryOut | EntryBatchOut}, **ERRORS},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"oneOf": [EntryCreate.model_json_schema(),
                                                          EntryTextCreate.model_json_schema()]}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "labels": {"type": "string", "description": "comma-separated labels"},
                            "note": {"type": "string"},
                            "source": {"type": "string"},
                        },
                    }
                },
            }
        }
    },
)
async def add_entry(name: str, request: Request, principal: Principal = Depends(admin)) -> JSONResponse:
    """Add one hash (JSON ``signal_type`` + ``value``), or bank content as it is and add every signal it
    has: a text (JSON ``text``) or a file (multipart ``file``: PDQ for an image, vPDQ for a video, digests).

    Adding a value the bank already holds is idempotent: 200 with the existing entry.
    """
    engine = _engine(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("file: a file part is required", code="missing_field")
            data = await upload.read()
            labels_raw = form.get("labels") or ""
            note = form.get("note") or ""
            source = form.get("source") or ""
        finally:
            await form.close()
        if not all(isinstance(v, str) for v in (labels_raw, note, source)):
            raise InvalidInput("labels, note and source must be text fields", code="invalid_field")
        check_stored([labels_raw, note, source], "labels, note and source")
        labels = [lab for lab in str(labels_raw).split(",") if lab.strip()]
        content = engine.content(banked_kind(data), data=data)
        return await _add_content(engine, name, content, labels, str(note), str(source), principal.key_id)
    doc = _json_body(await request.body())
    if isinstance(doc, dict) and "text" in doc:
        try:
            text_in = EntryTextCreate.model_validate(doc)
        except ValueError as exc:
            raise invalid_input_from(exc, code="invalid_request") from None
        content = engine.content("text", text=text_in.text)
        return await _add_content(engine, name, content, text_in.labels, text_in.note, text_in.source,
                                  principal.key_id)
    try:
        body = EntryCreate.model_validate(doc)
    except ValueError as exc:
        raise invalid_input_from(exc, code="invalid_request") from None
    entry_in = EntryInput(body.signal_type, body.value, body.labels, source=body.source,
                          first_seen=body.first_seen, note=body.note)
    entry, created = await run_in_threadpool(
        lambda: engine.add_entry(name, entry_in, added_by=principal.key_id)
    )
    return JSONResponse({**entry.to_dict(), "created": created}, status_code=201 if created else 200)


def _json_body(raw: bytes) -> Any:
    """Parse the body once: a JSON object with a ``text`` member banks a text, any other object one hash."""
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidInput("the body is not valid JSON", code="invalid_request") from None


async def _add_content(engine: Engine, name: str, content: Content, labels: list[str], note: str, source: str,
                       added_by: str) -> JSONResponse:
    results, refused = await run_in_threadpool(
        lambda: engine.add_entries_from_content(name, content, labels=labels, note=note, source=source,
                                                added_by=added_by)
    )
    created = any(c for _, c in results)
    return JSONResponse(
        {"entries": [{**e.to_dict(), "created": c} for e, c in results], "refused": refused},
        status_code=201 if created else 200,
    )




@router.get("/{name}/entries/{entry_id}", response_model=EntryOut, responses=ERRORS)
async def get_entry(name: str, entry_id: Id64, request: Request, _: Principal = Depends(reader)) -> JSONResponse:
    entry = await run_in_threadpool(_engine(request).banks.get_entry, name, entry_id)
    return JSONResponse(entry.to_dict())


@router.delete("/{name}/entries/{entry_id}", status_code=204, responses=ERRORS)
async def delete_entry(name: str, entry_id: Id64, request: Request, _: Principal = Depends(admin)) -> None:
    await run_in_threadpool(_engine(request).delete_entry, name, entry_id)


async def _spool_body(request: Request, spool: IO[bytes] | None = None) -> IO[bytes]:
    """Copy the (size-limited) request body to a temporary file so the import reads it line by line."""
    if spool is None:
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by caller
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                spool.close()
                raise InvalidInput("file: a file part is required", code="missing_field")
            while chunk := await upload.read(1024 * 1024):
                spool.write(chunk)
        finally:
            await form.close()
    else:
        async for chunk in request.stream():
            spool.write(chunk)
    spool.seek(0)
    return spool


#: A hash list at least this large (about 27,000 PDQ lines) is imported in the import worker process.
OFFLOAD_IMPORT_BYTES = 1024 * 1024


def imports_elsewhere(engine: Engine) -> bool:
    """Whether an import can run in the import worker process: the database is a file or a server (an
    in-memory SQLite exists in this process only) and the engine uses the process-wide plugins."""
    url = engine.db.url
    in_memory = url.startswith("sqlite") and (":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/"))
    return not in_memory and engine.registry is registry()


@router.post("/{name}/import", response_model=ImportOut, responses=ERRORS)
async def import_entries(
    name: str,
    request: Request,
    format: str = Query("text", description="Hash-list format: 'text' (<signal_type> <signal>) or 'tcap-csv'"),
    strict: bool = Query(False, description="Reject the whole file if any line is bad"),
    source: str = Query("", max_length=200),
    labels: str = Query("", description="Comma-separated labels added to every entry"),
    principal: Principal = Depends(admin),
) -> JSONResponse:
    """Bulk-import a hash list (raw body or multipart ``file``). Re-importing adds nothing."""
    engine = _engine(request)
    engine.banks.get(name)
    engine.registry.hashlist_format(format)
    label_list = [lab for lab in labels.split(",") if lab.strip()]
    spool = tempfile.NamedTemporaryFile(prefix="seawall-import-", delete=False)  # noqa: SIM115 - removed below
    try:
        await _spool_body(request, spool)
        size = os.fstat(spool.fileno()).st_size
        if size < OFFLOAD_IMPORT_BYTES or not imports_elsewhere(engine):
            try:
                return JSONResponse((await run_in_threadpool(
                    lambda: engine.import_entries(name, format, lines_of(spool), added_by=principal.key_id,
                                                  source=source, labels=label_list, strict=strict))).to_dict())
            finally:
                spool.close()
        # a million lines are minutes of interpreter time: parsed and written in the import worker process,
        # so this server's other requests never wait for the GIL behind them
        spool.close()
        report = await offload.run(
            functools.partial(import_file, engine.db.url, name, format, spool.name, added_by=principal.key_id,
                              source=source, labels=label_list, strict=strict),
            pool=offload.IMPORT)
    finally:
        spool.close()
        os.unlink(spool.name)
    await run_in_threadpool(engine.imported, report)
    return JSONResponse(report.to_dict())


@router.get("/{name}/export", responses={200: {"content": {"text/plain": {}, "text/csv": {}}}, **ERRORS})
async def export_entries(name: str, request: Request, format: str = Query("text"),
                         _: Principal = Depends(reader)) -> StreamingResponse:
    """Stream the bank as a hash list."""
    engine = _engine(request)
    fmt = engine.registry.hashlist_format(format)
    lines = await run_in_threadpool(engine.export_entries, name, format)
    return StreamingResponse(
        iterate_in_threadpool(lines),
        media_type=f"{fmt.media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}{fmt.file_suffix}"'},
    )


@router.post("/{name}/rehash", response_model=RehashOut, responses=ERRORS)
async def rehash_bank(name: str, request: Request, body: RehashIn | None = None,
                      _: Principal = Depends(admin)) -> JSONResponse:
    """Compute the signals of the bank's kept texts and pictures again (``seawall bank rehash NAME``): after a
    normalisation change, or with ``new_types`` for signal types added since. Hash-list entries are left
    alone; a second call changes nothing. 409 ``rehash_running`` while another rehash of the bank runs."""
    engine = _engine(request)
    new_types = body.new_types if body is not None else False
    report = await run_in_threadpool(lambda: engine.rehash(name, new_types=new_types))
    return JSONResponse(report.to_dict())
