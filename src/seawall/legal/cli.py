"""``seawall report transparency``: the yearly (or any period's) transparency report from the command line."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(help="Legal reports (TCO Art. 7, DSA Art. 15/24).", no_args_is_help=True)
FORMATS = ("json", "html", "pdf")


def _day(value: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"error: {name}: use a date such as 2026-01-01 (got {value!r})", err=True)
        raise typer.Exit(2) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _write(out: Path, data: bytes) -> None:
    """Write-then-rename, so a half-written report never replaces a good one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, out)


@report_app.command("transparency")
def transparency(
    start: Annotated[str, typer.Option("--from", help="First day of the period (UTC), e.g. 2026-01-01")],
    end: Annotated[str, typer.Option("--to", help="Day after the period ends (UTC), e.g. 2027-01-01")],
    fmt: Annotated[str, typer.Option("--format", help="json, html or pdf")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file (pdf needs it)")] = None,
) -> None:
    """Count every figure the TCO and DSA transparency reports need, for [--from, --to)."""
    from seawall.config import Settings
    from seawall.errors import SeawallError
    from seawall.legal.report_render import to_html, to_pdf
    from seawall.legal.settings import LegalSettings
    from seawall.legal.transparency import compute
    from seawall.store.db import Database, upgrade

    if fmt not in FORMATS:
        typer.echo(f"error: --format: one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    if fmt == "pdf" and out is None:
        typer.echo("error: --format pdf writes a file: give --out report.pdf", err=True)
        raise typer.Exit(2)
    settings = Settings()
    url = settings.effective_database_url
    upgrade(url)
    db = Database(url)
    try:
        report = compute(db, _day(start, "--from"), _day(end, "--to"), provider=LegalSettings().provider_name)
    except SeawallError as exc:
        typer.echo(f"error: {exc.message} ({exc.code})", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    data = (json.dumps(report, indent=2).encode() if fmt == "json" else
            to_html(report).encode() if fmt == "html" else to_pdf(report))
    if out is None:
        sys.stdout.write(data.decode() + ("\n" if fmt == "json" else ""))
    else:
        _write(out, data)
        typer.echo(f"wrote {out} ({len(data):,} bytes)")
