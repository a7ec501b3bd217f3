"""Wires settings, store, registry, indexes and services into one object every shell uses.

API, CLI and (later) workers are thin: they translate their input, call the engine and render the
result. Writes that change bank entries refresh the local indexes before returning, so a new hash is
matchable as soon as the write is acknowledged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import select

from seawall.apikeys import ApiKeys
from seawall.banks import BankService, EntryInput
from seawall.config import Settings
from seawall.domain.models import Bank, BankEntry, ComputedSignal, Item, Match
from seawall.index.manager import Candidate, IndexSet
from seawall.ingest import STAGE_SIGNALS, ItemService, compute_signals
from seawall.matching import Matcher
from seawall.media.content import Content
from seawall.media.image import DecodeLimits
from seawall.plugins import Registry, registry
from seawall.queue.base import WorkQueue
from seawall.queue.inprocess import InProcessQueue
from seawall.sharing.importer import ImportReport, export_lines, import_entries
from seawall.store.db import Database, upgrade
from seawall.store.tables import StoreIdentityRow

log = logging.getLogger(__name__)

#: Snapshot an index in the background once this many entries changed since its last snapshot.
SNAPSHOT_AFTER_CHANGES = 100_000


class Engine:
    def __init__(self, settings: Settings, *, migrate: bool = True, reg: Registry | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.effective_database_url
        if migrate:
            upgrade(url)
        self.db = Database(url)
        self.registry = reg or registry()
        self.indexes = IndexSet(self.registry, snapshot_dir=settings.data_dir / "index" / self._store_id())
        self.matcher = Matcher(
            self.db, self.registry, self.indexes, min_quality=settings.pdq_min_quality,
            default_thresholds={"pdq": settings.pdq_threshold},
        )
        self.banks = BankService(self.db, self.registry)
        self.items = ItemService(self.db, self.registry, self.matcher, settings.data_dir / "spool",
                                 lambda kind, data: self.content(kind, data=data))
        self.queue: WorkQueue | None = None
        self.api_keys = ApiKeys(self.db)
        self.limits = DecodeLimits(max_pixels=settings.max_image_pixels, jpeg_draft=settings.jpeg_draft)
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        loaded = self.indexes.load_snapshots(self.db)
        if loaded:
            log.info("index snapshots loaded: %s", loaded)
        self.refresh()

    def _store_id(self) -> str:
        with self.db.session() as s:
            store_id = s.scalar(select(StoreIdentityRow.store_id).where(StoreIdentityRow.id == 1))
        return store_id or "unidentified"

    # --- index freshness -----------------------------------------------------------------------
    def refresh(self) -> int:
        """Pull entries and bank settings written since the last refresh (by anyone) into memory."""
        n = self.indexes.refresh(self.db)
        self.matcher.reload_banks()
        return n

    def start_background_refresh(self, interval: float | None = None) -> None:
        """Follow writes made by other processes (a CLI import, another node) every ``interval`` s."""
        if self._refresher is not None:
            return
        interval = interval or self.settings.index_refresh_seconds

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                    self.indexes.save_snapshots(min_changes=SNAPSHOT_AFTER_CHANGES)
                except Exception:
                    log.exception("index refresh failed; retrying")

        self._refresher = threading.Thread(target=loop, name="seawall-index-refresh", daemon=True)
        self._refresher.start()

    def start_workers(self, queue: WorkQueue | None = None) -> None:
        """Process deferred items (video) in the background, starting with any left pending by a restart."""
        if self.queue is not None:
            return
        self.queue = queue or InProcessQueue(workers=self.settings.workers)
        self.queue.register(STAGE_SIGNALS, self.items.process)
        self.items.enqueue = self.queue.submit
        for item_id in self.items.pending_ids():
            self.queue.submit(STAGE_SIGNALS, item_id)

    def close(self) -> None:
        if self.queue is not None:
            self.items.enqueue = None
            self.queue.close()
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=30)
        try:
            self.indexes.save_snapshots(min_changes=1)
        except Exception:
            log.exception("could not save index snapshots; they will be rebuilt from the store")
        self.db.dispose()

    # --- banks ---------------------------------------------------------------------------------
    def update_bank(self, name: str, changes: dict[str, object]) -> Bank:
        bank = self.banks.update(name, dict(changes))
        self.matcher.reload_banks()
        return bank

    def delete_bank(self, name: str) -> None:
        gone = self.banks.delete(name)
        self.indexes.remove(gone)
        self.matcher.reload_banks()

    def _index_entries(self, entries: list[BankEntry]) -> None:
        """Make this process's own writes matchable at once, whatever order ids commit in."""
        self.indexes.add([(e.id, e.signal_type, e.value) for e in entries])

    def add_entry(self, bank_name: str, entry: EntryInput, *, added_by: str) -> tuple[BankEntry, bool]:
        result = self.banks.add_entry(bank_name, entry, added_by=added_by)
        self._index_entries([result[0]])
        return result

    def add_entries_from_content(self, bank_name: str, content: Content, *, labels: list[str], note: str,
                                 source: str, added_by: str) -> tuple[list[tuple[BankEntry, bool]], list[str]]:
        """Hash content and add every trustworthy signal; low-quality PDQ hashes are refused with a reason."""
        results: list[tuple[BankEntry, bool]] = []
        refused: list[str] = []
        for sig in compute_signals(self.registry, content, for_query=False):
            if sig.quality is not None and sig.quality < self.settings.pdq_min_quality:
                refused.append(
                    f"{sig.type} quality {sig.quality} is below {self.settings.pdq_min_quality}: not added"
                )
                continue
            results.append(self.banks.add_entry(
                bank_name, EntryInput(sig.type, sig.value, labels, source=source, note=note), added_by=added_by,
            ))
        self._index_entries([e for e, _ in results])
        return results, refused

    def delete_entry(self, bank_name: str, entry_id: int) -> None:
        e = self.banks.delete_entry(bank_name, entry_id)
        self.indexes.remove([(e.id, e.signal_type, e.value)])

    def import_entries(self, bank_name: str, fmt_name: str, lines: Iterable[str], *, added_by: str,
                       source: str = "", labels: list[str] | None = None, strict: bool = False,
                       progress: Callable[[int], None] | None = None) -> ImportReport:
        bank = self.banks.get(bank_name)
        fmt = self.registry.hashlist_format(fmt_name)
        report = import_entries(self.db, self.registry, bank, fmt, lines, added_by=added_by, source=source,
                                labels=labels, strict=strict, progress=progress)
        self.refresh()
        return report

    def export_entries(self, bank_name: str, fmt_name: str) -> Iterator[str]:
        bank = self.banks.get(bank_name)
        return export_lines(self.db, bank, self.registry.hashlist_format(fmt_name))

    # --- items and lookups ---------------------------------------------------------------------
    def content(self, content_type: str, data: bytes = b"", text: str | None = None) -> Content:
        return Content(content_type=content_type, data=data, text=text, limits=self.limits)

    def submit(self, content: Content, *, content_id: str, account_id: str | None = None,
               submitted_by: str | None = None) -> Item:
        return self.items.submit(content, content_id=content_id, account_id=account_id,
                                 submitted_by=submitted_by)

    def lookup(self, signal_type: str, value: str) -> list[Match]:
        """Matches for one signal value computed elsewhere (a platform's own hasher, a partner's list)."""
        sig = self.registry.signal(signal_type)
        v = sig.normalize(value)
        radius = self.matcher.radius(sig.name) if sig.uses_distance else 0
        cands: list[Candidate] = self.indexes.search(sig.name, [v], radius)
        return self.matcher.resolve([(ComputedSignal(sig.name, v), c, ["original"]) for c in cands])
