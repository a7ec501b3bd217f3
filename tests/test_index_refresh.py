"""The refresh loop follows other processes' writes, and costs one query when nothing was written."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from tests.conftest import copy_sqlite_template


def _write_elsewhere(settings: Settings, lines: list[str]) -> None:
    """Entries written by another engine on the same store (another process, a CLI import)."""
    other = build_engine(settings)
    try:
        if "b" not in {b.name for b in other.banks.list_banks()}:
            other.banks.create("b")
        assert other.import_entries("b", "text", lines, added_by="t").added == len(lines)
    finally:
        other.close()


def test_refresh_picks_up_every_type_written_elsewhere(engine: Engine, settings: Settings) -> None:
    pdq, md5 = secrets.token_hex(32), secrets.token_hex(16)
    _write_elsewhere(settings, [f"pdq {pdq}"])
    engine.refresh()
    engine.refresh()  # nothing new
    assert [m.distance for m in engine.lookup("pdq", pdq)] == [0]
    # a type other than the newest entry's, after a refresh that found nothing
    _write_elsewhere(settings, [f"md5 {md5}"])
    engine.refresh()
    assert len(engine.lookup("md5", md5)) == 1
    _write_elsewhere(settings, [f"pdq {secrets.token_hex(32)}", f"md5 {secrets.token_hex(16)}"])
    engine.refresh()
    assert engine.indexes.sizes()["pdq"] == 2 and engine.indexes.sizes()["md5"] == 2


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Engine, Settings]]:
    copy_sqlite_template(sqlite_template, tmp_path)
    settings = Settings(data_dir=tmp_path)
    eng = build_engine(settings)
    try:
        yield eng, settings
    finally:
        eng.close()


def test_idle_refresh_reads_no_entries(sqlite_engine: tuple[Engine, Settings]) -> None:
    """Four refreshes a second in every server process: with nothing new, one primary-key probe and no
    per-signal-type reads (there are more than a dozen types)."""
    engine, settings = sqlite_engine
    _write_elsewhere(settings, [f"pdq {secrets.token_hex(32)}"])
    engine.refresh()
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    event.listen(engine.db.engine, "before_cursor_execute", seen)
    try:
        assert engine.indexes.refresh(engine.db) == 0
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", seen)
    entry_reads = [s for s in statements if "bank_entries" in s]
    assert len(entry_reads) == 1 and "max(" in entry_reads[0].lower()
    # and the next write is still followed
    _write_elsewhere(settings, [f"pdq {secrets.token_hex(32)}"])
    assert engine.indexes.refresh(engine.db) == 1
