"""The ``seawall`` command. Command and option names are a contract: operators script against them."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from seawall.config import Settings
from seawall.errors import SeawallError

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


def _engine() -> Any:
    from seawall.engine import Engine

    return Engine(Settings())


def _read(path: Path) -> bytes:
    if not path.is_file():
        _fail(f"{path}: no such file")
    return path.read_bytes()


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind")] = "",
          port: Annotated[int, typer.Option(help="Port to listen on")] = 0,
          workers: Annotated[int, typer.Option(help="Server processes (default SEAWALL_API_WORKERS)")] = 0) -> None:
    """Serve the API and console (embedded SQLite unless SEAWALL_DATABASE_URL says otherwise)."""
    import uvicorn

    from seawall.api.app import create_app
    from seawall.store.db import upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _run(lambda: upgrade(settings.effective_database_url))
    processes = workers or settings.api_workers
    options: dict[str, Any] = {"host": host or settings.host, "port": port or settings.port,
                               "log_level": settings.log_level, "access_log": False}
    if processes > 1:
        # each process builds its own engine and index from the store (or its snapshot)
        uvicorn.run("seawall.api.app:create_app", factory=True, workers=processes, **options)
    else:
        uvicorn.run(_run(lambda: create_app(settings)), **options)


@app.command("hash")
def hash_cmd(paths: Annotated[list[Path], typer.Argument(help="Files to hash")],
             as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one object per file")] = False) -> None:
    """Print the signals of each file: '<signal_type> <signal>' lines, or JSON Lines with --json."""
    from seawall.ingest import compute_signals
    from seawall.media.content import Content
    from seawall.media.image import DecodeLimits, sniff_image
    from seawall.plugins import registry

    settings = Settings()
    limits = DecodeLimits(max_pixels=settings.max_image_pixels, jpeg_draft=settings.jpeg_draft)
    failed = False
    for path in paths:
        data = _read(path)
        content = Content("image" if sniff_image(data) else "file", data=data, limits=limits)
        try:
            signals = compute_signals(registry(), content, for_query=False)
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

    engine = _engine()
    try:
        for path in paths:
            data = _read(path)
            kind = "image" if sniff_image(data) else "file"
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
    engine = _engine()
    try:
        banks = engine.banks.list_banks()
    finally:
        engine.close()
    if as_json:
        from seawall.api.serialize import bank_dict

        sys.stdout.write(json.dumps([bank_dict(b) for b in banks]) + "\n")
        return
    table = Table("name", "kind", "action", "entries", "enabled", "labels")
    for b in banks:
        table.add_row(b.name, b.kind, b.default_action, f"{b.entry_count:,}", "yes" if b.enabled else "no",
                      ", ".join(b.labels))
    out.print(table)


def _file_lines(path: Path, progress: Progress | None) -> Iterator[str]:
    task = progress.add_task("importing", total=path.stat().st_size) if progress else None
    with path.open("rb") as fh:
        for raw in fh:
            if progress is not None and task is not None:
                progress.advance(task, len(raw))
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n").lstrip("\ufeff")


@bank_app.command("import")
def bank_import(
    name: str,
    path: Annotated[Path, typer.Argument(help="Hash-list file")],
    format: Annotated[str, typer.Option("--format", help="text or tcap-csv")] = "text",
    strict: Annotated[bool, typer.Option(help="Import nothing if any line is bad")] = False,
    source: Annotated[str, typer.Option(help="Where the list came from")] = "",
    label: Annotated[list[str] | None, typer.Option(help="Label added to every entry (repeatable)")] = None,
) -> None:
    """Stream a hash list into a bank; rejected lines are reported with their numbers."""
    if not path.is_file():
        _fail(f"{path}: no such file")
    engine = _engine()
    try:
        show = sys.stderr.isatty()
        progress = Progress(TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
                            TimeRemainingColumn(), console=err, disable=not show)
        with progress:
            report = _run(lambda: engine.import_entries(
                name, format, _file_lines(path, progress), added_by="cli", source=source or path.name,
                labels=label or [], strict=strict))
    finally:
        engine.close()
    out.print(f"read {report.lines_read:,} lines: added {report.added:,}, already present "
              f"{report.duplicates:,}, rejected {report.rejected:,}", highlight=False)
    for r in report.rejected_lines[:50]:
        err.print(f"  line {r.line_no}: {r.reason}", highlight=False)
    if report.rejected > 50:
        err.print(f"  … and {report.rejected - 50:,} more", highlight=False)
    if report.rejected:
        raise typer.Exit(3 if report.added or report.duplicates else 2)


@bank_app.command("export")
def bank_export(
    name: str,
    format: Annotated[str, typer.Option("--format", help="text or tcap-csv")] = "text",
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
    engine = _engine()
    try:
        key, principal = _run(lambda: engine.api_keys.create(role, name))
    finally:
        engine.close()
    err.print(f"created {principal.role} key {principal.key_id}; store it now, it is not kept in clear")
    sys.stdout.write(key + "\n")


@apikey_app.command("list")
def apikey_list() -> None:
    """List API keys (ids and roles, never secrets)."""
    engine = _engine()
    try:
        for k in engine.api_keys.list_keys():
            sys.stdout.write(f"{k['key_id']}\t{k['role']}\t{'revoked' if k['revoked'] else 'active'}\t{k['name']}\n")
    finally:
        engine.close()


@apikey_app.command("revoke")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    engine = _engine()
    try:
        _run(lambda: engine.api_keys.revoke(key_id))
    finally:
        engine.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    from seawall.store.db import upgrade

    settings = Settings()
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


def main() -> None:
    app()
