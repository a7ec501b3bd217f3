"""Console pages for banks: admins create, edit and disable banks, add entries (a file, a text, a hash),
import hash lists with progress and delete entries with a reason; leads (senior) browse them read-only.

Adding goes through the same engine calls as ``POST /v1/banks/{name}/entries`` and ``…/import``, so an
entry added here is matchable at once and idempotent in the same way. Same rules as the rest of the
console: the role is checked on the server, every form carries the session's CSRF token, every change is
audited, and a refused form comes back with its message and what was typed in it.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from seawall.api import offload
from seawall.api.edge import MAX_INT64, Id64
from seawall.api.routes.banks import OFFLOAD_IMPORT_BYTES, imports_elsewhere
from seawall.api.routes.console import Denied, _call, _engine, _form, _page, _user
from seawall.banks.service import EntryInput
from seawall.errors import InvalidInput, NotFound, SeawallError
from seawall.media.content import banked_kind
from seawall.models.records import ACTIONS, BANK_KINDS
from seawall.review.audit import record
from seawall.review.users import ConsoleUser, csrf_for
from seawall.sharing.import_jobs import ImportJobs
from seawall.sharing.importer import ImportReport, import_file
from seawall.storable import check_stored

router = APIRouter(prefix="/console", include_in_schema=False)

#: Entries on one page of a bank; the next page starts after the last id shown (keyset, in SQL).
ENTRY_PAGE = 50
ADD_KINDS = ("text", "hash", "file")
DONE = {"save": "saved", "disable": "disabled", "enable": "enabled"}


def _labels(raw: str) -> list[str]:
    return [lab.strip() for lab in raw.split(",") if lab.strip()]


async def _text_form(request: Request, token: str) -> dict[str, str]:
    """A posted form of text fields (CSRF checked); comma-separated labels stay one string, as typed."""
    form = await _form(request, token)
    return {k: ",".join(v) if isinstance(v, list) else str(v)[:100_000] for k, v in form.items()}


def _jobs(request: Request) -> ImportJobs:
    """This app's imports (made with the console, see ``console.install``)."""
    jobs: ImportJobs = request.app.state.import_jobs
    return jobs


async def _upload_form(request: Request, token: str) -> tuple[dict[str, str], UploadFile | None]:
    """A posted form that may carry one file: text fields as strings, the file apart (CSRF checked)."""
    form = await request.form(max_files=1, max_fields=20)
    sent = str(form.get("csrf_token") or "")
    if not sent or not hmac.compare_digest(sent, csrf_for(token)):
        await form.close()
        raise Denied(403, "the form's security token is missing or wrong; reload the page and try again")
    upload = form.get("file")
    fields = {k: str(v)[:100_000] for k, v in form.items() if isinstance(v, str)}
    return fields, upload if isinstance(upload, UploadFile) and upload.filename else None


def _refused(fn: Callable[[], Any], page: Callable[[int, str], Response]) -> Any:
    """Run a change; a refusal (bad input, conflict) is shown on the form's own page, not a bare error page."""
    try:
        return fn()
    except NotFound as exc:
        raise Denied(exc.status, exc.message) from exc
    except SeawallError as exc:
        return page(exc.status, exc.message)


# --- the list of banks ---------------------------------------------------------------------------


@router.get("/banks")
def banks_list(request: Request) -> HTMLResponse:
    """Leads see every bank and open it read-only; admins get the same list with the forms."""
    user, token = _user(request, "senior")
    return _banks_page(request, user, token)


@router.get("/admin/banks")
def banks_page(request: Request) -> HTMLResponse:
    user, token = _user(request, "admin")
    return _banks_page(request, user, token)


def _banks_page(request: Request, user: ConsoleUser, token: str, status: int = 200, error: str | None = None,
                posted: dict[str, str] | None = None) -> HTMLResponse:
    return _page(request, user, token, "admin_banks.html", status, banks=_engine(request).banks.list_banks(),
                 kinds=BANK_KINDS, actions=ACTIONS, error=error, posted=posted or {})


@router.post("/admin/banks")
async def create_bank(request: Request) -> Response:
    user, token = _user(request, "admin")
    form = await _text_form(request, token)
    engine = _engine(request)

    def create() -> Response:
        check_stored([form.get("name", ""), form.get("description", ""), form.get("labels", "")], "the form")
        bank = engine.banks.create(form.get("name", "").strip(), description=form.get("description", "")[:2000],
                                   kind=form.get("kind", "block"), default_action=form.get("default_action", "block"),
                                   labels=_labels(form.get("labels", "")))
        engine.matcher.reload_banks()
        with engine.db.session() as s:
            record(s, user.username, "bank.create", "bank", bank.name,
                   {"kind": bank.kind, "default_action": bank.default_action, "labels": bank.labels})
        return RedirectResponse(f"/console/banks/{bank.name}?notice=created", status_code=303)

    result: Response = _refused(create, lambda status, message: _banks_page(request, user, token, status, message,
                                                                            form))
    return result


# --- one bank: its settings, its entries, adding and importing ---------------------------------------


#: Notices a redirect may ask the bank page to show; anything else in the URL is ignored, not echoed.
NOTICES = ("created", "saved", "disabled", "enabled", "deleted")


@router.get("/banks/{name}")
def bank_page(request: Request, name: str, q: str = "", after: int = Query(0, ge=0, le=MAX_INT64),
              notice: str = "") -> HTMLResponse:
    user, token = _user(request, "senior")
    return _bank_page(request, user, token, name[:100], q=q[:2000], after=after,
                      notice=notice if notice in NOTICES else "")


def _bank_page(request: Request, user: ConsoleUser, token: str, name: str, *, status: int = 200,
               error: str | None = None, posted: dict[str, str] | None = None, q: str = "", after: int = 0,
               notice: str = "", added: list[dict[str, Any]] | None = None) -> HTMLResponse:
    engine = _engine(request)
    bank = _call(lambda: engine.banks.get(name))
    entries = engine.banks.search_entries(name, q, after_id=after, limit=ENTRY_PAGE)
    return _page(request, user, token, "bank.html", status, bank=bank, entries=entries, q=q, after=after,
                 next_after=entries[-1].id if len(entries) == ENTRY_PAGE else None, notice=notice, error=error,
                 posted=posted or {}, added=added or [], kinds=BANK_KINDS, actions=ACTIONS,
                 signal_types=sorted(engine.registry.signal_types), formats=sorted(engine.registry.hashlist_formats),
                 editable=user.has("admin"))


@router.post("/admin/banks/{name}")
async def change_bank(request: Request, name: str) -> Response:
    """Save a bank's settings, or disable / enable it (``do``): matching follows at once."""
    user, token = _user(request, "admin")
    form = await _text_form(request, token)
    engine = _engine(request)
    what = form.get("do", "save")

    def change() -> Response:
        if what in ("disable", "enable"):
            changes: dict[str, object] = {"enabled": what == "enable"}
        elif what == "save":
            check_stored([form.get("description", ""), form.get("labels", "")], "the form")
            changes = {"description": form.get("description", "")[:2000], "kind": form.get("kind", ""),
                       "default_action": form.get("default_action", ""), "labels": _labels(form.get("labels", ""))}
        else:
            raise InvalidInput(f"unknown bank action {what!r}", code="invalid_field")
        bank = engine.update_bank(name, changes)
        with engine.db.session() as s:
            record(s, user.username, f"bank.{'update' if what == 'save' else what}", "bank", name, changes)
        return RedirectResponse(f"/console/banks/{bank.name}?notice={DONE[what]}", status_code=303)

    result: Response = _refused(change, lambda status, message: _bank_page(request, user, token, name,
                                                                           status=status, error=message, posted=form))
    return result


@router.post("/admin/banks/{name}/entries")
async def add_entries(request: Request, name: str) -> Response:
    """Add by text, by hash (signal type + value) or by file; an entry the bank holds already is kept as is."""
    user, token = _user(request, "admin")
    form, upload = await _upload_form(request, token)
    engine = _engine(request)
    by = form.get("by", "")
    data = b""
    if upload is not None:
        try:
            data = await upload.read()
        finally:
            await upload.close()

    def add() -> Response:
        labels = _labels(form.get("labels", ""))
        note, source = form.get("note", "")[:2000], form.get("source", "")[:200]
        check_stored([labels, note, source, form.get("value", ""), form.get("text", "")], "the form")
        if by == "hash":
            entry_in = EntryInput(form.get("signal_type", ""), form.get("value", "").strip(), labels, source=source,
                                  note=note)
            results = [engine.add_entry(name, entry_in, added_by=user.username)]
            refused: list[str] = []
        elif by in ("text", "file"):
            if by == "text" and not form.get("text", "").strip():
                raise InvalidInput("text: write the text to bank", code="missing_field")
            if by == "file" and not data:
                raise InvalidInput("file: choose a file to bank", code="missing_field")
            content = (engine.content("text", text=form.get("text", "")) if by == "text"
                       else engine.content(banked_kind(data), data=data))
            results, refused = engine.add_entries_from_content(name, content, labels=labels, note=note,
                                                               source=source, added_by=user.username)
        else:
            raise InvalidInput(f"by: one of {', '.join(ADD_KINDS)}", code="invalid_field")
        if not results:
            raise InvalidInput("nothing was added: " + ("; ".join(refused) or "no signal could be computed"),
                               code="nothing_added")
        with engine.db.session() as s:
            for e, created in results:
                if created:
                    record(s, user.username, "bank.entry_add", "bank_entry", e.id,
                           {"bank": name, "by": by, "signal_type": e.signal_type, "labels": e.labels})
        added = [{"id": e.id, "signal_type": e.signal_type, "created": created} for e, created in results]
        return _bank_page(request, user, token, name, status=201 if any(c for _, c in results) else 200,
                          added=added, notice="; ".join(refused))

    result: Response = _refused(add, lambda status, message: _bank_page(request, user, token, name, status=status,
                                                                        error=message, posted=form))
    return result


def _discard(spool: IO[bytes]) -> None:
    """Close and remove a spooled upload that is not imported."""
    spool.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spool.name)


@router.post("/admin/banks/{name}/import")
async def start_import(request: Request, name: str) -> Response:
    """Spool the uploaded hash list and import it in the background; the browser goes to its progress page.
    A list of ``OFFLOAD_IMPORT_BYTES`` or more is imported by the import worker process, as the API does."""
    user, token = _user(request, "admin")
    spool = tempfile.NamedTemporaryFile(prefix="seawall-import-", delete=False)  # noqa: SIM115 - the job removes it
    form = await request.form(max_files=1, max_fields=10)
    try:
        sent = str(form.get("csrf_token") or "")
        if not sent or not hmac.compare_digest(sent, csrf_for(token)):
            _discard(spool)
            raise Denied(403, "the form's security token is missing or wrong; reload the page and try again")
        upload = form.get("file")
        fields = {k: str(v)[:10_000] for k, v in form.items() if isinstance(v, str)}
        file_name = ""
        if isinstance(upload, UploadFile) and upload.filename:
            file_name = upload.filename
            while chunk := await upload.read(1024 * 1024):
                spool.write(chunk)
        spool.flush()
    finally:
        await form.close()
    engine = _engine(request)

    def start() -> Response:
        if not file_name:
            raise InvalidInput("file: choose a hash list to import", code="missing_field")
        check_stored([fields.get("labels", ""), fields.get("source", "")], "the form")
        fmt, source, labels = fields.get("format", "text"), fields.get("source", "")[:200], \
            _labels(fields.get("labels", ""))
        elsewhere: Callable[[], ImportReport] | None = None
        if os.fstat(spool.fileno()).st_size >= OFFLOAD_IMPORT_BYTES and imports_elsewhere(engine):
            elsewhere = functools.partial(
                offload.call, functools.partial(import_file, engine.db.url, name, fmt, spool.name,
                                                added_by=user.username, source=source, labels=labels),
                pool=offload.IMPORT)
        job = _jobs(request).start(engine, name, fmt, spool, started_by=user.username, file_name=file_name,
                                   source=source, labels=labels, elsewhere=elsewhere)
        return RedirectResponse(f"/console/admin/banks/{name}/imports/{job.id}", status_code=303)

    def refused(status: int, message: str) -> Response:
        _discard(spool)
        return _bank_page(request, user, token, name, status=status, error=message, posted=fields)

    try:
        result: Response = _refused(start, refused)
    except Denied:
        _discard(spool)
        raise
    return result


@router.get("/admin/banks/{name}/imports/{job_id}")
def import_page(request: Request, name: str, job_id: str) -> HTMLResponse:
    """How far an import got; the page reloads itself (no script needed) until the import has finished."""
    user, token = _user(request, "admin")
    job = _jobs(request).get(job_id[:100])
    if job is None or job.bank != name:
        raise Denied(404, "no such import on this server: finished imports are listed in the audit log "
                          "(action bank.import)")
    return _page(request, user, token, "bank_import.html", job=job)


# --- one entry: where it came from, and deleting it with a reason -------------------------------------


@router.get("/banks/{name}/entries/{entry_id}")
def entry_page(request: Request, name: str, entry_id: Id64) -> HTMLResponse:
    user, token = _user(request, "senior")
    return _entry_page(request, user, token, name, entry_id)


def _entry_page(request: Request, user: ConsoleUser, token: str, name: str, entry_id: int, status: int = 200,
                error: str | None = None, posted: dict[str, str] | None = None) -> HTMLResponse:
    engine = _engine(request)
    entry = _call(lambda: engine.banks.get_entry(name, entry_id))
    return _page(request, user, token, "bank_entry.html", status, bank=engine.banks.get(name), entry=entry,
                 error=error, posted=posted or {}, editable=user.has("admin"))


@router.post("/admin/banks/{name}/entries/{entry_id}/delete")
async def delete_entry(request: Request, name: str, entry_id: Id64) -> Response:
    """Delete one entry; the reason is required and kept in the audit log with what the entry was."""
    user, token = _user(request, "admin")
    form = await _text_form(request, token)
    engine = _engine(request)
    reason = form.get("reason", "").strip()

    def delete() -> Response:
        if len(reason) < 3:
            raise InvalidInput("reason: say why this entry is deleted (it is kept in the audit log)",
                               code="missing_field")
        check_stored(reason, "reason")
        engine.delete_entry(name, entry_id, actor=user.username, reason=reason[:2000])
        return RedirectResponse(f"/console/banks/{name}?notice=deleted", status_code=303)

    result: Response = _refused(delete, lambda status, message: _entry_page(request, user, token, name, entry_id,
                                                                            status, message, form))
    return result
