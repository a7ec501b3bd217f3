"""Helpers for tests that hand pages of a source's entries straight to ``SourceService.apply_page``: a file
source bound to bank ``synced``, MD5 entries as an exchange would list them, and applying pages from the
source's checkpoint (what a sync does after fetching them)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from seawall.engine import Engine
from seawall.sharing.exchanges.base import Page, RemoteEntry
from seawall.store.tables import SourceRow


def file_source(engine: Engine, tmp_path: Path) -> int:
    """Create source ``src`` (an empty file list feeding bank ``synced``); returns its id."""
    feed = tmp_path / "list.txt"
    feed.write_text("")
    engine.sources.create({"name": "src", "kind": "file", "path": str(feed), "bank": "synced"}, created_by="t")
    with engine.db.session() as s:
        return int(s.scalar(select(SourceRow.id).where(SourceRow.name == "src")) or 0)


def md5_entries(values: list[str], labels: dict[str, list[str]] | None = None,
                remote: dict[str, str] | None = None) -> list[RemoteEntry]:
    """MD5 entries for ``values`` labelled ``tag:a`` with remote ids ``r-<first 8>``, unless ``labels`` or
    ``remote`` names others for a value."""
    labels, remote = labels or {}, remote or {}
    return [RemoteEntry("md5", v, list(labels.get(v, ["tag:a"])), None, remote.get(v, f"r-{v[:8]}"), i)
            for i, v in enumerate(values)]


def apply_pages(engine: Engine, source_id: int, pages: list[Page]) -> None:
    """Apply ``pages`` from the source's current checkpoint, one transaction each."""
    with engine.db.session() as s:
        checkpoint = s.scalar(select(SourceRow.checkpoint).where(SourceRow.id == source_id))
    for page in pages:
        assert engine.sources.apply_page(source_id, checkpoint, page).applied
        checkpoint = page.checkpoint
