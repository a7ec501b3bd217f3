"""The ``seawall`` command. Command and option names are a contract: operators script against them.

Module-level imports stay light (Typer, rich's console): each command imports what it needs, so
``seawall --help`` and the commands that touch a few rows (``bank list``, ``apikey create``) start
without pydantic-settings, the ORM, the web framework or the media stack.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from seawall.errors import SeawallError
from seawall.legal.cli import report_app

if TYPE_CHECKING:
    from rich.progress import Progress

    from seawall.config import Settings

app = typer.Typer(help="Seawall: match uploads against banks of known terrorist and violent-extremist content.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
bank_app = typer.Typer(help="Create, list, import and export banks.", no_args_is_help=True)
apikey_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Generated demo data.", no_args_is_help=True)
app.add_typer(bank_app, name="bank")
app.add_typer(apikey_app, name="apikey")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
rules_app = typer.Typer(help="Policy rules: show, set, validate, dry-run.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
user_app = typer.Typer(help="Review console users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(report_app, name="report")
source_app = typer.Typer(help="Hash-sharing sources: add, list, sync, push, remove.", no_args_is_help=True)
app.add_typer(source_app, name="source")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _run(fn: Callable[[], T]) -> T:
    """Run a command body, turning Seawall's refusals into a message and a non-zero exit."""
    try:
        return fn()
    except SeawallError as exc:
        _fail(f"{exc.message} ({exc.code})", 2)
        raise AssertionError("unreachable") from exc


def _settings() -> Settings:
    """Every setting, validated (pydantic-settings is imported here, by the commands that need more than the store)."""
    from seawall.config import Settings

    return Settings()


def _engine() -> Any:
    from seawall.composition import build_engine

    return build_engine(_settings())


@contextmanager
def _light_store() -> Iterator[tuple[Any, str] | None]:
    """A driver connection to the store and its dialect, for commands that read or write a row or two.

    ``bank list`` and ``apikey create`` use it: the location comes from the same variables ``Settings``
    reads, without building it, and neither SQLAlchemy nor the ORM is imported. None for a database URL
    the driver path does not handle (see :mod:`seawall.store.driver`): the caller uses :class:`_Store`.
    """
    from seawall.store.driver import driver_target
    from seawall.store.light import open_store
    from seawall.store_location import store_location

    where = store_location()
    target = driver_target(where.database_url)
    if target is None:
        yield None
        return
    where.data_dir.mkdir(parents=True, exist_ok=True)
    conn = _run(lambda: open_store(target, where.database_url))
    try:
        yield conn, target.dialect
    finally:
        conn.close()


class _LazyRegistry:
    """The plugin registry, built on first use: listing banks never needs the signal types (numpy, tldextract…)."""

    def __getattr__(self, name: str) -> Any:
        from seawall.plugins import registry

        return getattr(registry(), name)


class _Store:
    """The store alone, for commands that read or write a few rows (``bank list``, ``apikey create``).

    Building an :class:`~seawall.engine.Engine` loads the match indexes and imports numba, the media
    decoders and the rules; these commands need none of it and answer in a fraction of the time.
    """

    def __init__(self) -> None:
        from seawall.store.db import Database, ensure_schema

        settings = _settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.effective_database_url
        _run(lambda: ensure_schema(url))
        self.db = Database(url)

    @property
    def banks(self) -> Any:
        from seawall.banks.service import BankService

        return BankService(self.db, _LazyRegistry())  # type: ignore[arg-type]

    @property
    def api_keys(self) -> Any:
        from seawall.apikeys import ApiKeys

        return ApiKeys(self.db)

    def close(self) -> None:
        self.db.dispose()


def _read(path: Path) -> bytes:
    if not path.is_file():
        _fail(f"{path}: no such file")
    return path.read_bytes()


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind")] = "",
          port: Annotated[int, typer.Option(help="Port to listen on")] = 0,
          workers: Annotated[int, typer.Option(help="Server processes (default SEAWALL_API_WORKERS)")] = 0,
          api_only: Annotated[bool, typer.Option(
              "--api-only", help="Enqueue background work for `seawall worker` processes instead of doing it "
                                 "here (needs SEAWALL_NATS_URL)")] = False) -> None:
    """Serve the API and console (embedded SQLite unless SEAWALL_DATABASE_URL says otherwise)."""
    import uvicorn

    from seawall.api.app import create_app
    from seawall.store.db import upgrade

    if api_only:
        os.environ["SEAWALL_API_ONLY"] = "true"  # read again by every server process uvicorn starts
    settings = _settings()
    if settings.api_only and not settings.nats_url:
        _fail("--api-only needs SEAWALL_NATS_URL: without a shared queue nothing would process background work")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _run(lambda: upgrade(settings.effective_database_url))
    processes = workers or settings.api_workers
    from seawall.api.slowclients import PROTOCOL
    from seawall.threads import cap_threads

    cap_threads(processes)  # inherited by every server process: together they use the cores once
    options: dict[str, Any] = {"host": host or settings.host, "port": port or settings.port,
                               "log_level": settings.log_level, "access_log": False, "http": PROTOCOL}
    if processes > 1:
        from seawall.api.serving_group import ServingGroup

        # each process builds its own engine and index from the store (or its snapshot) and warms up on
        # its own; /readyz says ready once every one of them has
        group = ServingGroup(settings.data_dir / "run" / f"serve-{os.getpid()}", processes)
        group.prepare()
        try:
            uvicorn.run("seawall.api.app:create_app", factory=True, workers=processes, **options)
        finally:
            group.remove()
    else:
        uvicorn.run(_run(lambda: create_app(settings)), **options)


@user_app.command("create")
def user_create(username: str,
                role: Annotated[str, typer.Option(help="reviewer, senior or admin")] = "reviewer") -> None:
    """Create a console user; the password is read from stdin when piped (never from the command line)."""
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    from seawall.review.users import ConsoleUsers

    engine = _engine()
    try:
        user = _run(lambda: ConsoleUsers(engine.db).create(username, password, role))
    finally:
        engine.close()
    err.print(f"created {user.role} {user.username}")


@app.command()
def worker(concurrency: Annotated[int, typer.Option(help="Jobs run at once (default SEAWALL_WORKERS)")] = 0,
           health_port: Annotated[int, typer.Option(help="Serve /healthz and /metrics on this port (0: none)",
                                                    min=0, max=65535)] = 0,
           health_host: Annotated[str, typer.Option(help="Address for --health-port")] = "127.0.0.1") -> None:
    """Run background stages from the NATS queue (video hashing and matching, webhook delivery); no API.

    Run as many as the load needs, on any machine that reaches the database and NATS; stop with SIGTERM
    (running jobs finish and are acknowledged; a killed worker's jobs go to another after the ack wait).
    If NATS is unreachable the worker starts anyway, degraded, and connects when it can.
    """
    import logging
    import signal
    import threading

    from seawall.composition import build_engine, start
    from seawall.config import Settings

    overrides: dict[str, Any] = {"api_only": False}
    if concurrency:
        overrides["workers"] = concurrency
    settings = Settings(**overrides)
    if not settings.nats_url:
        _fail("seawall worker needs SEAWALL_NATS_URL; without it `seawall serve` does background work itself")
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from seawall.queue.nats import redact_url

    engine = _run(lambda: build_engine(settings))
    server = None
    try:
        # OCR models and match kernels warm up before the first stage-2 job needs them
        _run(lambda: start(engine, consume=True))
        if health_port:
            from seawall.healthserver import HealthServer

            server = HealthServer(engine, health_host, health_port)
            server.start()
        assert engine.queue is not None
        state = "" if engine.queue.connected else (
            f"; NATS unreachable ({engine.queue.status().get('error')}), degraded, retrying in the background")
        err.print(f"worker: {settings.workers} job(s) at a time from {redact_url(settings.nats_url or '')} "
                  f"(prefix {settings.nats_prefix}){state}", highlight=False)
        stop.wait()
    finally:
        if server is not None:
            server.close()
        engine.close()


@app.command("plugins")
def plugins_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print the listing as JSON")] = False) -> None:
    """List loaded plugins and every extension they registered (kind, name, plugin, package).

    Loads plugins exactly as ``serve`` does, so a plugin that would stop start-up fails here too
    (exit 2, naming it); with SEAWALL_PLUGINS_DEGRADED=true the failures are listed instead.
    """
    from seawall.api.routes.plugins import plugins_body
    from seawall.plugins import registry

    reg = _run(registry)
    if as_json:
        print(json.dumps(plugins_body(reg), indent=2))
        return
    from rich.table import Table

    table = Table("kind", "name", "plugin", "package")
    for r in reg.registrations.values():
        table.add_row(r.kind, r.name, r.plugin, r.package)
    Console().print(table)
    for f in reg.failures:
        err.print(f"[bold red]not loaded:[/] plugin {f.plugin!r}: {f.error}", highlight=False)


@app.command("hash")
def hash_cmd(paths: Annotated[list[Path], typer.Argument(help="Files to hash")],
             as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one object per file")] = False,
             fmt: Annotated[str, typer.Option("--format", help="'signals', or 'vpdq': the reference vPDQ "
                                              "lines of one video")] = "signals",
             seconds_per_hash: Annotated[float | None, typer.Option(
                 "--seconds-per-hash", help="With --format vpdq: seconds between hashed frames (0: every frame)",
                 min=0)] = None) -> None:
    """Print the signals of each file: '<signal_type> <signal>' lines, or JSON Lines with --json."""
    from seawall.media.content import Content
    from seawall.media.image import DecodeLimits, sniff_image
    from seawall.media.video import sniff_video
    from seawall.plugins import registry
    from seawall.uploads.ingest import compute_signals

    if fmt == "vpdq":
        from seawall.media.video import VideoLimits
        from seawall.signals.vpdq.signal import VpdqSettings, frames_to_lines, hash_video

        if len(paths) != 1 or as_json:
            _fail("--format vpdq hashes exactly one video and prints its reference lines (no --json)")
        vs = VpdqSettings()
        frames = _run(lambda: hash_video(_read(paths[0]), vs.seconds_per_hash if seconds_per_hash is None
                                         else seconds_per_hash, VideoLimits.from_settings(),
                                         max_side=vs.hash_max_side))
        sys.stdout.write("".join(line + "\n" for line in frames_to_lines(frames)))
        return
    if fmt != "signals" or seconds_per_hash is not None:
        _fail("--format is 'signals' or 'vpdq'; --seconds-per-hash goes with --format vpdq")
    settings = _settings()
    limits = DecodeLimits(max_pixels=settings.max_image_pixels, jpeg_draft=settings.jpeg_draft)
    failed = False
    for path in paths:
        data = _read(path)
        kind = "video" if sniff_video(data) else "image" if sniff_image(data) else "file"
        content = Content(kind, data=data, limits=limits)
        try:
            reg = registry()
            signals = [s for s in compute_signals(reg, content, for_query=False)
                       if not reg.signal(s.type).bank_side_only]
        except SeawallError as exc:
            err.print(f"[bold red]error:[/] {path}: {exc.message} ({exc.code})", highlight=False)
            failed = True
            continue
        if as_json:
            sys.stdout.write(json.dumps({"path": str(path), "signals": [s.to_dict() for s in signals]}) + "\n")
        else:
            for s in signals:
                sys.stdout.write(f"{s.type} {s.value}\n")
    if failed:
        raise typer.Exit(2)


@app.command()
def match(paths: Annotated[list[Path], typer.Argument(help="Files to check")],
          as_json: Annotated[bool, typer.Option("--json", help="JSON Lines output")] = False) -> None:
    """Check files against the local banks and print each verdict."""
    from seawall.media.image import sniff_image
    from seawall.media.video import sniff_video

    engine = _engine()
    try:
        for path in paths:
            data = _read(path)
            kind = "video" if sniff_video(data) else "image" if sniff_image(data) else "file"
            item = _run(lambda d=data, k=kind, p=path: engine.submit(  # type: ignore[misc]
                engine.content(k, data=d), content_id=str(p), submitted_by="cli"))
            if as_json:
                sys.stdout.write(json.dumps({"path": str(path), **item.to_dict()}) + "\n")
            else:
                detail = "; ".join(
                    f"{m.bank_name}#{m.entry_id} {m.signal_type} d={m.distance}" for m in item.verdict.matches
                )
                sys.stdout.write(f"{item.verdict.verdict}\t{path}" + (f"\t{detail}" if detail else "") + "\n")
    finally:
        engine.close()


@app.command()
def retro(days: Annotated[float, typer.Option(help="Items received within this many days (0 = the configured "
                                                    "SEAWALL_RETRO_WINDOW_DAYS)", min=0)] = 0,
          since_entry: Annotated[int | None, typer.Option(help="Re-run every block entry above this id, whatever "
                                                               "the cursor (after widening the window)", min=0)] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False) -> None:
    """Match past items against bank entries added since the last pass, and act on what they catch."""
    from datetime import timedelta

    engine = _engine()
    try:
        report = _run(lambda: engine.retro.run(window=timedelta(days=days) if days else None,
                                               since_entry_id=since_entry))
    finally:
        engine.close()
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    elif report.skipped:
        sys.stdout.write(f"skipped: {report.skipped}\n")
    else:
        sys.stdout.write(f"{report.entries} new entries, {report.items_scanned} past items scanned, "
                         f"{report.items_matched} matched ({report.matches} matches, {report.actions} actions) "
                         f"in {report.seconds:.2f} s\n")


@bank_app.command("create")
def bank_create(
    name: str,
    kind: Annotated[str, typer.Option(help="block or allow")] = "block",
    action: Annotated[str, typer.Option(help="What a match proposes: block, review or label")] = "block",
    description: Annotated[str, typer.Option()] = "",
    label: Annotated[list[str] | None, typer.Option(help="Label (repeatable), e.g. behaviour:recruitment")] = None,
    threshold: Annotated[list[str] | None, typer.Option(help="SIGNAL=DISTANCE, e.g. pdq=31")] = None,
) -> None:
    """Create a bank."""
    thresholds: dict[str, int] = {}
    for t in threshold or []:
        sig, _, val = t.partition("=")
        if not val.isdigit():
            _fail(f"--threshold {t!r}: expected SIGNAL=DISTANCE")
        thresholds[sig] = int(val)
    engine = _engine()
    try:
        bank = _run(lambda: engine.banks.create(name, description=description, kind=kind, default_action=action,
                                                labels=label or [], thresholds=thresholds))
        out.print(f"created bank [bold]{bank.name}[/] ({bank.kind}, action {bank.default_action})")
    finally:
        engine.close()


@bank_app.command("list")
def bank_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List banks with their entry counts."""
    from rich.table import Table

    from seawall.store.light import list_banks

    with _light_store() as store:
        if store is None:
            fallback = _Store()
            try:
                banks = fallback.banks.list_banks()
            finally:
                fallback.close()
        else:
            banks = list_banks(*store)
    if as_json:
        from seawall.api.serialize import bank_dict

        sys.stdout.write(json.dumps([bank_dict(b) for b in banks]) + "\n")
        return
    table = Table("name", "kind", "action", "entries", "enabled", "labels")
    for b in banks:
        table.add_row(b.name, b.kind, b.default_action, f"{b.entry_count:,}", "yes" if b.enabled else "no",
                      ", ".join(b.labels))
    out.print(table)


#: The progress bar moves once per this many bytes read: per line it cost a third of a 10M-line import.
PROGRESS_STEP_BYTES = 1 << 20


def _file_lines(path: Path, progress: Progress | None) -> Iterator[str]:
    task = progress.add_task("importing", total=path.stat().st_size) if progress else None
    pending = 0
    with path.open("rb", buffering=1 << 20) as fh:
        for raw in fh:
            pending += len(raw)
            if pending >= PROGRESS_STEP_BYTES and progress is not None and task is not None:
                progress.advance(task, pending)
                pending = 0
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n").lstrip("\ufeff")
    if progress is not None and task is not None and pending:
        progress.advance(task, pending)


@bank_app.command("add")
def bank_add(
    name: str,
    text: Annotated[str | None, typer.Option("--text", help="Bank this text (its hashes, never the text)")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Bank this image, video or file")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Label (repeatable)")] = None,
    source: Annotated[str, typer.Option(help="Where it came from")] = "",
    note: Annotated[str, typer.Option(help="A note kept with every entry")] = "",
) -> None:
    """Bank content directly: every signal it has is computed and added (text signals for a text, PDQ for
    an image, vPDQ for a video, digests for any file)."""
    if (text is None) == (file is None):
        _fail("give exactly one of --text or --file")
    engine = _engine()
    try:
        if file is not None:
            if not file.is_file():
                _fail(f"{file}: no such file")
            from seawall.media.content import banked_kind

            data = file.read_bytes()
            content = _run(lambda: engine.content(banked_kind(data), data=data))
        else:
            content = _run(lambda: engine.content("text", text=text))
        results, refused = _run(lambda: engine.add_entries_from_content(
            name, content, labels=label or [], note=note, source=source or (file.name if file else "cli"),
            added_by="cli"))
    finally:
        engine.close()
    for entry, created in results:
        out.print(f"{'added' if created else 'already present'}: #{entry.id} {entry.signal_type} "
                  f"{entry.value[:64]}", highlight=False)
    for reason in refused:
        err.print(f"refused: {reason}", highlight=False)
    if not results:
        _fail("nothing was banked: the content gave no signal Seawall can match on")


@bank_app.command("import")
def bank_import(
    name: str,
    path: Annotated[Path, typer.Argument(help="Hash-list file")],
    format: Annotated[str, typer.Option("--format", help="text, pytx, tcap-csv or vpdq")] = "text",
    strict: Annotated[bool, typer.Option(help="Import nothing if any line is bad")] = False,
    source: Annotated[str, typer.Option(help="Where the list came from")] = "",
    label: Annotated[list[str] | None, typer.Option(help="Label added to every entry (repeatable)")] = None,
) -> None:
    """Stream a hash list into a bank; rejected lines are reported with their numbers."""
    if not path.is_file():
        _fail(f"{path}: no such file")
    from seawall.plugins import registry
    from seawall.sharing.importer import import_entries

    # The store alone: running servers pick the new entries up from the store's change feed within
    # seconds, so this process builds no match index (at 10M entries, loading and snapshotting one
    # cost more than the import itself).
    store = _Store()
    try:
        show = sys.stderr.isatty()
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        progress = Progress(TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
                            TimeRemainingColumn(), console=err, disable=not show)
        reg = registry()
        with progress:
            report = _run(lambda: import_entries(
                store.db, reg, store.banks.get(name), reg.hashlist_format(format), _file_lines(path, progress),
                added_by="cli", source=source or path.name, labels=label or [], strict=strict))
        from seawall.store.planner_stats import refresh_after_bulk_write

        # As the server's imports do: servers page feeds of this bank by id, planned from these counts.
        refresh_after_bulk_write(store.db, report.added)
    finally:
        store.close()
    out.print(f"read {report.lines_read:,} lines: added {report.added:,}, already present "
              f"{report.duplicates:,}, rejected {report.rejected:,}", highlight=False)
    for r in report.rejected_lines[:50]:
        err.print(f"  line {r.line_no}: {r.reason}", highlight=False)
    if report.rejected > 50:
        err.print(f"  … and {report.rejected - 50:,} more", highlight=False)
    if report.rejected:
        raise typer.Exit(3 if report.added or report.duplicates else 2)


@bank_app.command("rehash")
def bank_rehash(
    name: Annotated[str | None, typer.Argument(help="Bank (default: every bank)")] = None,
    new_types: Annotated[bool, typer.Option("--new-types", help="Also add signal types a content has none of")]
    = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Compute the signals of banked texts and pictures again (after a normalisation change, or for new types).

    Only entries computed from content banked as itself are changed; hash-list entries are left alone. Running
    it twice changes nothing the second time.
    """
    engine = _engine()
    try:
        report = _run(lambda: engine.rehash(name, new_types=new_types))
    finally:
        engine.close()
    if json_out:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
        return
    added = ", ".join(f"{t} {n:,}" for t, n in sorted(report.added.items())) or "none"
    removed = ", ".join(f"{t} {n:,}" for t, n in sorted(report.removed.items())) or "none"
    out.print(f"{report.banks:,} bank(s), {report.contents:,} kept content(s): added {added}; removed {removed}; "
              f"{report.unchanged:,} entries unchanged, {report.present:,} already in the bank otherwise; "
              f"{report.not_from_content:,} entries not computed from kept content (left as they are)",
              highlight=False)
    for reason in report.failed:
        err.print(f"failed: {reason}", highlight=False)
    if report.failed:
        raise typer.Exit(3)


@bank_app.command("export")
def bank_export(
    name: str,
    format: Annotated[str, typer.Option("--format", help="text, pytx, tcap-csv or vpdq")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default stdout)")] = None,
) -> None:
    """Write a bank as a hash list."""
    engine = _engine()
    try:
        lines = _run(lambda: engine.export_entries(name, format))
        if output is None:
            for line in lines:
                sys.stdout.write(line)
        else:
            tmp = output.with_name(output.name + ".part")
            with tmp.open("w", encoding="utf-8") as fh:
                for line in lines:
                    fh.write(line)
            os.replace(tmp, output)
    finally:
        engine.close()


@apikey_app.command("create")
def apikey_create(role: Annotated[str, typer.Option(help="admin, submitter or reviewer")],
                  name: Annotated[str, typer.Option(help="Who or what uses the key")] = "") -> None:
    """Create an API key; the key is printed alone on the last line and never shown again."""
    from seawall.apikey_tokens import mint
    from seawall.store.light import insert_api_key

    key = _run(lambda: mint(role, name))
    token, principal = key.token, key.principal
    with _light_store() as store:
        if store is None:
            fallback = _Store()
            try:
                token, principal = fallback.api_keys.create(role, name)
            finally:
                fallback.close()
        else:
            insert_api_key(*store, key_id=principal.key_id, secret_hash=key.secret_hash, role=role, name=name)
    err.print(f"created {principal.role} key {principal.key_id}; store it now, it is not kept in clear")
    sys.stdout.write(token + "\n")


@apikey_app.command("list")
def apikey_list() -> None:
    """List API keys (ids and roles, never secrets)."""
    engine = _Store()
    try:
        for k in engine.api_keys.list_keys():
            sys.stdout.write(f"{k['key_id']}\t{k['role']}\t{'revoked' if k['revoked'] else 'active'}\t{k['name']}\n")
    finally:
        engine.close()


@apikey_app.command("revoke")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    engine = _Store()
    try:
        _run(lambda: engine.api_keys.revoke(key_id))
    finally:
        engine.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    from seawall.store.db import upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _run(lambda: upgrade(settings.effective_database_url))
    out.print("database is at the newest schema")


@demo_app.command("seed")
def demo_seed(output: Annotated[Path | None, typer.Option(help="Where to write sample images")] = None) -> None:
    """Create the demo bank from generated images and write sample uploads to try."""
    from seawall.demo import seed

    engine = _engine()
    try:
        target = output or (engine.settings.data_dir / "demo")
        summary = _run(lambda: seed(engine, target))
    finally:
        engine.close()
    out.print(summary, highlight=False)


def _print_rule_errors(exc: SeawallError) -> None:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    for e in exc.detail or []:
        err.print(f"  line {e['line']}: {e['message']}", highlight=False)


@rules_app.command("show")
def rules_show(version: Annotated[int | None, typer.Option(help="An older version (0 = built-in)")] = None,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the rules in force (their YAML source), or an older version."""
    from seawall.rules.service import rules_dict

    engine = _engine()
    try:
        rules = _run(lambda: engine.rules.current() if version is None else engine.rules.version(version))
    finally:
        engine.close()
    if as_json:
        sys.stdout.write(json.dumps(rules_dict(rules)) + "\n")
        return
    err.print(f"rules version {rules.version} ({rules.created_by or 'built-in'})", highlight=False)
    sys.stdout.write(rules.source if rules.source.endswith("\n") else rules.source + "\n")


@rules_app.command("validate")
def rules_validate(path: Annotated[Path, typer.Argument(help="YAML rules file")]) -> None:
    """Check a rules file without saving it; errors are printed with their line numbers (exit 2)."""
    source = _read(path).decode("utf-8", errors="replace")
    engine = _engine()
    try:
        rules = engine.rules.parse(source)
    except SeawallError as exc:
        _print_rule_errors(exc)
        raise typer.Exit(2) from None
    finally:
        engine.close()
    out.print(f"{path}: {len(rules.rules)} rule(s), valid", highlight=False)


@rules_app.command("set")
def rules_set(path: Annotated[Path, typer.Argument(help="YAML rules file")],
              note: Annotated[str, typer.Option(help="Why the rules changed")] = "") -> None:
    """Validate and store a rules file as the new version in force; invalid rules change nothing (exit 2)."""
    source = _read(path).decode("utf-8", errors="replace")
    engine = _engine()
    try:
        rules = engine.rules.save(source, created_by="cli", note=note)
    except SeawallError as exc:
        _print_rule_errors(exc)
        raise typer.Exit(2) from None
    finally:
        engine.close()
    out.print(f"rules version {rules.version} in force: {len(rules.rules)} rule(s)", highlight=False)


@rules_app.command("dry-run")
def rules_dry_run(
    item: Annotated[str | None, typer.Option("--item", help="A stored item id")] = None,
    facts: Annotated[Path | None, typer.Option("--facts", help="JSON file with made-up facts")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Candidate rules instead of those in force")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show which rules fire for an item (or made-up facts), why, and what would be done. Changes nothing."""
    from pydantic import ValidationError

    from seawall.rules.facts import FactsIn

    if (item is None) == (facts is None):
        _fail("give --item ID or --facts FILE")
    made_up = None
    if facts is not None:
        try:
            made_up = FactsIn.model_validate_json(_read(facts)).to_facts()
        except ValidationError as exc:
            _fail(f"{facts}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
    source = _read(rules).decode("utf-8", errors="replace") if rules is not None else None
    engine = _engine()
    try:
        result = engine.dry_run(item_id=item, facts=made_up, source=source)
    except SeawallError as exc:
        if exc.code == "invalid_rules":
            _print_rule_errors(exc)
            raise typer.Exit(2) from None
        _fail(f"{exc.message} ({exc.code})", 2)
        return
    finally:
        engine.close()
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    sys.stdout.write(f"verdict: {result['verdict']}\n")
    for a in result["actions"]:
        opts = ", ".join(f"{k}={v}" for k, v in a.items() if k not in ("type", "rule"))
        sys.stdout.write(f"action: {a['type']}" + (f" ({opts})" if opts else "") + f"  [rule {a['rule']}]\n")
    for t in result["rules"]:
        mark = "FIRES" if t["fired"] else "no   "
        sys.stdout.write(f"{mark} {t['rule']} (line {t['line']}): {t['because']}\n")
    for n in result["notes"]:
        sys.stdout.write(f"note: {n}\n")


@source_app.command("add")
def source_add(
    name: str,
    kind: Annotated[str, typer.Option(help="Exchange: seawall, file, threatexchange, tat, …")],
    bank: Annotated[list[str] | None, typer.Option(help="Target bank (repeatable; created if missing)")] = None,
    action: Annotated[str, typer.Option(help="Action of its entries while not trusted")] = "review",
    trusted_action: Annotated[str, typer.Option(help="Action once trusted")] = "block",
    trusted: Annotated[bool, typer.Option(help="Trust it from the start")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between background syncs")] = 300.0,
    option: Annotated[list[str] | None, typer.Option("--option", "-o",
                                                     help="Exchange setting KEY=VALUE (repeatable)")] = None,
    label_map: Annotated[list[str] | None, typer.Option(help="REMOTE=LOCAL label mapping (repeatable)")] = None,
) -> None:
    """Add a source; run `seawall source sync NAME` for its first sync (or let the server do it)."""
    config: dict[str, Any] = {}
    for opt in option or []:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            _fail(f"--option {opt!r}: expected KEY=VALUE")
        config[key] = value
    mapping = {}
    for m in label_map or []:
        remote, sep, local = m.partition("=")
        if not sep:
            _fail(f"--label-map {m!r}: expected REMOTE=LOCAL")
        mapping[remote] = local
    body: dict[str, Any] = {"name": name, "kind": kind, "action": action, "trusted_action": trusted_action,
                            "trusted": trusted, "interval_seconds": interval, "config": config, "label_map": mapping}
    if bank:
        body["banks"] = bank
    engine = _engine()
    try:
        created = _run(lambda: engine.sources.create(body, created_by="cli"))
    finally:
        engine.close()
    out.print(f"source {created['name']} ({created['kind']}) → bank {created['banks'][0]}, "
              f"action {created['effective_action']}", highlight=False)


@source_app.command("list")
def source_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Sources with their counts, last success, lag and last error."""
    engine = _engine()
    try:
        sources = engine.sources.list_sources()
    finally:
        engine.close()
    if as_json:
        sys.stdout.write(json.dumps(sources) + "\n")
        return
    from rich.table import Table

    table = Table("name", "kind", "bank", "action", "enabled", "added", "withdrawn", "last success", "lag s",
                  "state")
    for src in sources:
        state = "failing: " + (src["last_error"] or "") if src["failing"] else ("stale" if src["stale"] else "ok")
        table.add_row(src["name"], src["kind"], ", ".join(src["banks"]), src["effective_action"],
                      "yes" if src["enabled"] else "no", f"{src['counts']['added']:,}",
                      f"{src['counts']['tombstones']:,}", src["last_success_at"] or "never",
                      "" if src["lag_seconds"] is None else f"{src['lag_seconds']:.0f}", state[:80])
    out.print(table)


@source_app.command("sync")
def source_sync(name: str,
                restart: Annotated[bool, typer.Option(help="Start again from the beginning (adds nothing twice)")]
                = False) -> None:
    """Sync now, with a progress bar and a summary; exit 1 if the exchange failed or a page was refused."""
    engine = _engine()
    try:
        if restart:
            _run(lambda: engine.sources.update(name, {"checkpoint": None}))
        show = sys.stderr.isatty()
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} entries"),
                            TimeRemainingColumn(), console=err, disable=not show)
        with progress:
            task = progress.add_task(f"syncing {name}", total=None)

            def step(page: Any, result: Any) -> None:
                if page.total is not None:
                    progress.update(task, total=page.total)
                progress.advance(task, len(page.entries) + len(page.tombstones))

            report = _run(lambda: engine.sources.sync(name, progress=step))
    finally:
        engine.close()
    out.print(f"{name}: {report.pages:,} page(s), {report.seen:,} entries seen, {report.added:,} added, "
              f"{report.tombstones:,} withdrawn, {report.rejected:,} rejected", highlight=False)
    for r in report.rejects[:20]:
        err.print(f"  rejected at position {r['position']}: {r['reason']}", highlight=False)
    if report.error:
        _fail(("page refused: " if report.refused else "") + report.error)


@source_app.command("push")
def source_push(name: str) -> None:
    """Send the source the new entries of its push banks now; exit 1 if the exchange refused them."""
    engine = _engine()
    try:
        report = _run(lambda: engine.sources.push(name))
    finally:
        engine.close()
    out.print(f"{name}: {report['pushed']:,} entries pushed", highlight=False)
    if report["error"]:
        _fail(report["error"])


@source_app.command("remove")
def source_remove(name: str) -> None:
    """Remove a source and its provenance (entries stay in their bank)."""
    engine = _engine()
    try:
        _run(lambda: engine.sources.delete(name))
    finally:
        engine.close()
    out.print(f"removed source {name}", highlight=False)


def _standalone(command: Callable[..., None], kwargs: dict[str, Any]) -> None:
    """Run a command function as Typer's standalone mode would: exits and interruptions become exit codes."""
    import errno

    try:
        command(**kwargs)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except EOFError:
        err.file.write("\nAborted!\n")
        sys.exit(1)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.exit(1)
    sys.exit(0)


def main() -> None:
    """The ``seawall`` entry point; ``bank list`` and ``apikey create`` skip Typer's parsing (see cli_argv)."""
    from seawall.cli_argv import light_command

    found = light_command(sys.argv[1:], os.environ)
    if found is None:
        app()
        return
    name, kwargs = found
    commands: dict[str, Callable[..., None]] = {"bank list": bank_list, "apikey create": apikey_create}
    _standalone(commands[name], kwargs)
