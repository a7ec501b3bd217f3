"""Wires settings, store, registry, indexes and services into one object every shell uses.

API, CLI and (later) workers are thin: they translate their input, call the engine and render the
result. Writes that change bank entries refresh the local indexes before returning, so a new hash is
matchable as soon as the write is acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from seawall.accounts import AccountService
from seawall.accounts.recidivism import ReappearanceService
from seawall.accounts.watch import UploadWatch
from seawall.actions import ActionRunner
from seawall.apikeys import ApiKeys
from seawall.banks.rehash import RehashReport, RehashRuns, content_entries, keep_content, kept_contents, plan
from seawall.banks.service import BankService, EntryInput
from seawall.config import Settings
from seawall.errors import InvalidInput, QueueFull, QueueUnavailable, SeawallError
from seawall.heap import freeze_start_up_heap
from seawall.index.manager import Candidate, IndexSet
from seawall.media.content import Content, check_text
from seawall.media.image import DecodeLimits
from seawall.media.ocr import OcrOptions
from seawall.models.records import Bank, BankEntry, ComputedSignal, Item, Match
from seawall.plugins import Registry
from seawall.queue.base import WorkQueue
from seawall.queue.inprocess import InProcessQueue
from seawall.rules.facts import Facts
from seawall.rules.service import RuleService
from seawall.sharing.feeds import FeedService
from seawall.sharing.importer import ImportReport, export_lines, import_entries
from seawall.sharing.runner import FeedbackSender, SourceRunner
from seawall.sharing.sources import SourceService
from seawall.store.db import Database
from seawall.store.planner_stats import refresh_after_bulk_write
from seawall.uploads.ingest import STAGE_SIGNALS, ItemService, compute_signals
from seawall.uploads.retro import RetroLoop, RetroMatcher
from seawall.uploads.stages import STAGE_TWO, StageTwoWaiters
from seawall.verdicts.decide import ItemDecider
from seawall.verdicts.matching import Matcher
from seawall.wakeups import Wakeup
from seawall.webhooks import DeliveryConfig, WebhookSender, WebhookService

log = logging.getLogger(__name__)

#: Snapshot an index in the background once this many entries changed since its last snapshot.
SNAPSHOT_AFTER_CHANGES = 100_000
#: For how long after an upload's stage 2 was shed (queue full) /healthz says degraded.
STAGE2_SHEDDING_SECONDS = 300.0


@dataclass(slots=True)
class EngineParts:
    """The services the engine fronts, built and wired by :func:`seawall.composition.build_parts`."""

    db: Database
    registry: Registry
    indexes: IndexSet
    matcher: Matcher
    banks: BankService
    items: ItemService
    api_keys: ApiKeys
    accounts: AccountService
    rules: RuleService
    webhooks: WebhookService
    actions: ActionRunner
    reappearance: ReappearanceService
    upload_watch: UploadWatch
    retro: RetroMatcher
    sources: SourceService
    feeds: FeedService
    decider: ItemDecider
    limits: DecodeLimits
    stage_two: StageTwoWaiters
    #: Wakes the webhook sender once it runs (commits that queued deliveries ring it).
    events_wakeup: Wakeup
    #: Wakes retro-matching once it runs (new bank entries ring it).
    retro_wakeup: Wakeup


class Engine:
    """The facade the shells call, over services built by the composition root (:mod:`seawall.composition`).

    The engine never builds its parts: :func:`seawall.composition.build_parts` does, and
    :func:`seawall.composition.build_engine` is the one-call way to get an engine for some settings
    (shells, tests, embedding).
    """

    def __init__(self, settings: Settings, parts: EngineParts) -> None:
        self.settings = settings
        self.db = parts.db
        self.registry = parts.registry
        self.indexes = parts.indexes
        self.matcher = parts.matcher
        self.banks = parts.banks
        self.items = parts.items
        self.api_keys = parts.api_keys
        self.accounts = parts.accounts
        self.rules = parts.rules
        self.webhooks = parts.webhooks
        self.actions = parts.actions
        self.reappearance = parts.reappearance
        self.upload_watch = parts.upload_watch
        self.retro = parts.retro
        self.sources = parts.sources
        self.feeds = parts.feeds
        self.decider = parts.decider
        self.limits = parts.limits
        self.stage_two = parts.stage_two
        self.events_wakeup = parts.events_wakeup
        self.retro_wakeup = parts.retro_wakeup
        self.queue: WorkQueue | None = None
        self.sender: WebhookSender | None = None
        self._retro_loop: RetroLoop | None = None
        self._source_runner: SourceRunner | None = None
        #: Set once :meth:`warm_up` finished: the first upload then costs what the hundredth does.
        self.ready = threading.Event()
        self.warm_up_seconds: dict[str, float] = {}
        #: Banks being rehashed now (a second run over the same bank is refused).
        self.rehash_runs = RehashRuns()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        #: The background refresh asks for a snapshot once an index has this many unsaved changes.
        self.snapshot_after_changes = SNAPSHOT_AFTER_CHANGES
        with self.indexes.start_up_lock():
            loaded = self.indexes.load_snapshots(self.db)
            if loaded:
                log.info("index snapshots loaded: %s", loaded)
            self.refresh()
            shared = self.indexes.share_rebuilt(min_changes=self.snapshot_after_changes)
            if shared:
                log.info("indexes rebuilt from the store, saved and mapped for the other processes: %s", shared)

    def warm_up(self) -> dict[str, float]:
        """Load models and kernels now (see :mod:`seawall.warmup`); marks the engine ready."""
        from seawall.warmup import warm_up

        try:
            self.warm_up_seconds = warm_up(self)
            if self.settings.gc_freeze:
                # before saying ready: the full collection holds every request of the process (100-300 ms)
                freeze_start_up_heap()
        finally:
            self.ready.set()
        return self.warm_up_seconds

    def start_warm_up(self) -> threading.Thread | None:
        """Warm up beside start-up; /readyz answers 503 until it is done, /healthz says ``ready: false``.

        With ``SEAWALL_WARM_UP=false`` the engine is ready at once (a test process starting hundreds of
        apps would otherwise run OCR, the language model and the kernels for each).
        """
        if not self.settings.warm_up:
            self.ready.set()
            return None
        thread = threading.Thread(target=self.warm_up, name="seawall-warm-up", daemon=True)
        thread.start()
        return thread

    # --- index freshness -----------------------------------------------------------------------
    def refresh(self) -> int:
        """Pull entries and bank settings written since the last refresh (by anyone) into memory."""
        n = self.indexes.refresh(self.db)
        self.matcher.reload_banks()
        self.rules.refresh()
        self.webhooks.outbox.reload()
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
                    # the API keys' snapshot stays fresh, so a key's first request in this process is checked
                    # in memory (seawall.apikeys)
                    self.api_keys.refresh_snapshot()
                    # saved by the snapshot thread: neither this loop nor any lookup waits for it
                    self.indexes.request_snapshots(min_changes=self.snapshot_after_changes)
                except Exception:
                    log.exception("index refresh failed; retrying")

        self._refresher = threading.Thread(target=loop, name="seawall-index-refresh", daemon=True)
        self._refresher.start()

    def start_workers(self, queue: WorkQueue | None = None, *, consume: bool | None = None) -> None:
        """Process deferred items (video) in the background, starting with any left pending by a restart.

        Without ``SEAWALL_NATS_URL`` a thread pool in this process does the work. With it, jobs go
        through JetStream: this node enqueues, and consumes too unless ``consume`` is false (default:
        not ``SEAWALL_API_ONLY``); consuming nodes also re-queue pending items the broker never got.
        """
        if self.queue is not None:
            return
        if self.settings.sqlite_checkpoint_ms > 0:
            # SQLite stores: WAL checkpoints in a thread of their own, not inside an upload's commit
            self.db.checkpoint_in_background(self.settings.sqlite_checkpoint_ms / 1000)
        consume = not self.settings.api_only if consume is None else consume
        if consume and self.settings.retro_window_days > 0:
            self._retro_loop = RetroLoop(self.retro, self.settings.retro_interval_seconds)
            self.retro_wakeup.attach(self._retro_loop.wake)
        if consume and self.settings.source_sync:
            self._source_runner = SourceRunner(self.sources, FeedbackSender(self.db, self.sources),
                                               live_wait=self.settings.source_live_wait_seconds)
        if queue is None:
            queue = self._nats_queue(consume) if self.settings.nats_url else InProcessQueue(
                workers=self.settings.workers)
        self.queue = queue
        self.queue.register(STAGE_SIGNALS, self.items.process)
        self.queue.register(STAGE_TWO, self.items.process_stage_two)
        self.items.enqueue = self._enqueue
        self.items.stage_two_depth = self.queue.depth
        self.items.stage_two_max = self.settings.stage2_max_backlog
        if consume and self.settings.stage2_processes:
            from seawall.uploads.slow_process import shared

            self.items.slow_processes = shared(self.settings.workers, self.settings.stage2_niceness,
                                             self.settings.stage2_sched_idle)
        if isinstance(self.queue, InProcessQueue):
            self.items.sweep_stage_two_spool()  # files no stage 2 will read (finished, erased, never committed)
            for item_id in self.items.pending_ids():
                self.queue.submit(STAGE_SIGNALS, item_id)
            for item_id in self.items.stage_two_ids():
                self.queue.submit(STAGE_TWO, item_id)

    def _nats_queue(self, consume: bool) -> WorkQueue:
        from seawall.queue.nats import NatsQueue, NatsQueueConfig

        s = self.settings
        assert s.nats_url is not None
        grace = timedelta(seconds=max(5.0, s.nats_sweep_seconds))
        return NatsQueue(
            NatsQueueConfig(url=s.nats_url, prefix=s.nats_prefix, max_deliveries=s.nats_max_deliveries,
                            ack_wait=s.nats_ack_wait_seconds, concurrency=s.workers, max_depth=s.queue_max_depth,
                            sweep_interval=s.nats_sweep_seconds, reconnect_backoff_max=s.nats_reconnect_max_seconds),
            consume=consume,
            on_dead=self._dead_letter,
            recover=lambda stage: (self.items.stage_two_ids(older_than=grace, limit=10_000) if stage == STAGE_TWO
                                   else self.items.pending_ids(older_than=grace, limit=10_000)),
        )

    def _dead_letter(self, stage: str, item_id: str, message: str) -> None:
        if stage == STAGE_TWO:
            self.items.finish_stage_two(item_id, f"stage 2 given up: {message}; the stage-1 verdict stands")
        else:
            self.items.give_up(item_id, message)

    # --- waiting for stage 2 -----------------------------------------------------------------------
    def wait_final(self, item: Item, timeout: float) -> Item:
        """The item once its stage 2 finished, or as it stands after ``timeout`` seconds."""
        return self.stage_two.wait(item, timeout, self.items.get)

    def _enqueue(self, stage: str, item_id: str) -> None:
        """Queue a stored pending item; if the broker is away it stays pending and a worker's sweep queues it."""
        assert self.queue is not None
        try:
            self.queue.submit(stage, item_id)
        except Exception as exc:
            log.warning("could not queue %s for item %s (%s); it stays pending until a worker re-queues it",
                        stage, item_id, exc)

    def queue_status(self) -> dict[str, Any]:
        """Backend, depth and whether workers lag (``degraded`` health, still serving), for /healthz and /metrics."""
        if self.queue is None:
            return {"backend": "none", "connected": True, "depth": 0, "lagging": False}
        status = self.queue.status()
        try:
            status["stage2_backlog"] = self.items.stage_two_count()
        except Exception:  # the store being away is /healthz's own finding; the queue status stays readable
            status["stage2_backlog"] = None
        status["stage2_skipped"] = self.items.stage_two_skipped
        skipped_at = self.items.stage_two_skipped_at
        status["stage2_shedding"] = skipped_at is not None and time.monotonic() - skipped_at < STAGE2_SHEDDING_SECONDS
        status["stage2_max_backlog"] = self.settings.stage2_max_backlog
        status["lagging"] = status.get("depth", 0) > self.settings.queue_degraded_depth
        status["degraded_depth"] = self.settings.queue_degraded_depth
        return status

    def _admit_deferred(self) -> None:
        """Refuse a deferred upload the queue cannot take: too deep, or the broker away and its backlog full.

        While the broker is unreachable, deferred uploads wait in the store as ``pending`` (uploads in
        ``item_uploads``) and a worker queues them once it is back; ``queue_offline_max_pending`` bounds
        that backlog so an outage cannot fill the database.
        """
        assert self.queue is not None
        if not self.queue.connected:
            waiting = self.items.pending_count()
            limit = self.settings.queue_offline_max_pending
            if waiting >= limit:
                reason = self.queue.status().get("error", "not connected")
                raise QueueUnavailable(
                    f"the work queue is unreachable ({reason}) and {waiting:,} uploads already wait for it "
                    f"(limit {limit:,}); retry later", detail={"retry_after_seconds": 30, "pending": waiting})
            return
        if self.queue.depth() >= self.settings.queue_max_depth:
            raise QueueFull(f"{self.queue.depth():,} uploads are waiting for background processing; retry later",
                            detail={"retry_after_seconds": 30})

    def start_webhook_delivery(self) -> None:
        """Deliver webhook events from the outbox in the background, including any left by a restart."""
        if self.sender is not None or self.settings.api_only:  # API-only nodes leave delivery to workers
            return
        s = self.settings
        self.sender = WebhookSender(self.db, self.webhooks.policy, DeliveryConfig(
            timeout=s.webhook_timeout_seconds, max_attempts=s.webhook_max_attempts,
            retry_base=s.webhook_retry_base_seconds, retry_max=s.webhook_retry_max_seconds,
            poll=s.webhook_poll_seconds))
        self.sender.start()
        self.events_wakeup.attach(self.sender.wake)

    def _events_queued(self) -> None:
        self.events_wakeup()

    def events_queued(self) -> None:
        """Tell the webhook sender that a commit queued deliveries (reviewer decisions, appeals)."""
        self._events_queued()

    def close(self) -> None:
        if self._source_runner is not None:
            self._source_runner.close()
            self._source_runner = None
        self.upload_watch.close()
        if self._retro_loop is not None:
            self._retro_loop.close()
            self._retro_loop = None
        self.retro.lead.close()
        self.events_wakeup.attach(None)
        self.retro_wakeup.attach(None)
        if self.sender is not None:
            self.sender.close()
            self.sender = None
        if self.queue is not None:
            self.items.enqueue = None
            self.queue.close()
        # the stage-2 worker processes are the process's (slow_process.shared): they end with it
        self.items.slow_processes = None
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=30)
        self.indexes.close_snapshots(timeout=300)
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
        if entries:
            self.retro_wakeup()

    def add_entry(self, bank_name: str, entry: EntryInput, *, added_by: str) -> tuple[BankEntry, bool]:
        result = self.banks.add_entry(bank_name, entry, added_by=added_by)
        self._index_entries([result[0]])
        return result

    def add_entries_from_content(self, bank_name: str, content: Content, *, labels: list[str], note: str,
                                 source: str, added_by: str) -> tuple[list[tuple[BankEntry, bool]], list[str]]:
        """Hash content and add every trustworthy signal; low-quality PDQ hashes are refused with a reason."""
        results: list[tuple[BankEntry, bool]] = []
        refused: list[str] = []
        computed = compute_signals(self.registry, content, for_query=False)
        bank = self.banks.get(bank_name)
        # kept so that `seawall bank rehash` can compute its signals again; its entries point back to it
        kept = keep_content(self.db, bank.id, content, labels=labels, source=source, note=note, added_by=added_by)
        meta = {"content": kept} if kept is not None else None
        for sig in computed:
            if not self._trustworthy(sig):
                refused.append(f"{sig.type} quality {sig.quality} is below {self.matcher.floor(sig.type)}: not added")
                continue
            results.append(self.banks.add_entry(
                bank_name, EntryInput(sig.type, sig.value, labels, source=source, note=note, meta=meta),
                added_by=added_by,
            ))
        self._index_entries([e for e, _ in results])
        return results, refused

    def _trustworthy(self, sig: ComputedSignal) -> bool:
        """Whether a computed value is good enough to bank: its signal type's quality floor."""
        return self.matcher.trustworthy(sig.type, sig.quality)

    def rehash(self, bank_name: str | None = None, *, new_types: bool = False) -> RehashReport:
        """Compute the signals of every kept banked content again (one bank, or all): see :mod:`seawall.banks.rehash`.
        Raises NotFound for an unknown bank and Conflict while another rehash of the same bank runs here."""
        banks = [self.banks.get(bank_name)] if bank_name is not None else self.banks.list_banks()
        with self.rehash_runs.hold(bank_name):
            return self._rehash(banks, new_types=new_types)

    def _rehash(self, banks: list[Bank], *, new_types: bool) -> RehashReport:
        report = RehashReport()
        for bank in banks:
            report.banks += 1
            linked, loose = content_entries(self.db, bank.id)
            report.not_from_content += loose
            after = 0
            while page := kept_contents(self.db, bank.name, after_id=after):
                for kc in page:
                    after = kc.id
                    report.contents += 1
                    try:
                        content = (self.content("text", text=kc.data.decode("utf-8")) if kc.content_type == "text"
                                   else self.content(kc.content_type, data=kc.data))
                        computed = compute_signals(self.registry, content, for_query=False)
                    except SeawallError as exc:
                        report.failed.append(f"content {kc.id} of bank {bank.name}: {exc.message}")
                        continue
                    todo = plan(linked.get(kc.id, {}), computed, new_types=new_types, keep=self._trustworthy)
                    added = [self.banks.add_entry(bank.name, EntryInput(
                        c.type, c.value, kc.labels, source=kc.source, note=kc.note, meta={"content": kc.id}),
                        added_by=kc.added_by) for c in todo.add]
                    self._index_entries([e for e, created in added if created])
                    for entry_id, stype, _ in todo.remove:
                        self.delete_entry(bank.name, entry_id)
                        report.removed[stype] += 1
                    for e, created in added:
                        if created:
                            report.added[e.signal_type] += 1
                        else:  # the value is in the bank already, from a list or by hand: left as it is
                            report.present += 1
                    report.unchanged += todo.unchanged
        return report

    def delete_entry(self, bank_name: str, entry_id: int, *, actor: str | None = None, reason: str = "") -> None:
        e = self.banks.delete_entry(bank_name, entry_id, actor=actor, reason=reason)
        self.indexes.remove([(e.id, e.signal_type, e.value)])

    def import_entries(self, bank_name: str, fmt_name: str, lines: Iterable[str], *, added_by: str,
                       source: str = "", labels: list[str] | None = None, strict: bool = False,
                       progress: Callable[[int], None] | None = None) -> ImportReport:
        bank = self.banks.get(bank_name)
        fmt = self.registry.hashlist_format(fmt_name)
        report = import_entries(self.db, self.registry, bank, fmt, lines, added_by=added_by, source=source,
                                labels=labels, strict=strict, progress=progress)
        self.imported(report)
        return report

    def imported(self, report: ImportReport) -> None:
        """Make what an import (here or in a worker process) added matchable, and retro-match it."""
        refresh_after_bulk_write(self.db, report.added)  # feeds page these banks by id: plan from real counts
        self.refresh()
        if report.added:
            self.retro_wakeup()

    def export_entries(self, bank_name: str, fmt_name: str) -> Iterator[str]:
        bank = self.banks.get(bank_name)
        return export_lines(self.db, bank, self.registry.hashlist_format(fmt_name), self.registry)

    # --- items and lookups ---------------------------------------------------------------------
    def content(self, content_type: str, data: bytes = b"", text: str | None = None) -> Content:
        """What the signals are computed from; a text over the size limit is refused here, before any work."""
        if text is not None:
            check_text(text)
        return Content(content_type=content_type, data=data, text=text, limits=self.limits,
                       ocr=OcrOptions.from_settings(self.settings))

    def submit(self, content: Content, *, content_id: str, account_id: str | None = None,
               submitted_by: str | None = None, keep: bool = False, context: dict[str, Any] | None = None,
               once: bool = False, reach: int | None = None) -> Item:
        if self.settings.nats_url and self.queue is not None and self.items.is_deferred(content.content_type):
            self._admit_deferred()
        item = self.items.submit(content, content_id=content_id, account_id=account_id,
                                 submitted_by=submitted_by, keep=keep, context=context, once=once, reach=reach)
        self.upload_watch.note(item.account_id)
        return item

    async def submit_on_loop(self, content: Content, *, content_id: str, account_id: str | None = None,
                             submitted_by: str | None = None, keep: bool = False,
                             context: dict[str, Any] | None = None, reach: int | None = None) -> Item | None:
        """:meth:`submit` decided on the event loop when that needs nothing from the store, else None
        (then call :meth:`submit` in a thread); see :meth:`seawall.uploads.ingest.ItemService.submit_on_loop`."""
        item = await self.items.submit_on_loop(content, content_id=content_id, account_id=account_id,
                                               submitted_by=submitted_by, keep=keep, context=context, reach=reach)
        if item is not None:
            self.upload_watch.note(item.account_id)
        return item

    def lookup(self, signal_type: str, value: str) -> list[Match]:
        """Matches for one signal value computed elsewhere (a platform's own hasher, a partner's list)."""
        sig = self.registry.signal(signal_type)
        v = sig.normalize(value)
        radius = self.matcher.radius(sig.name) if sig.uses_distance else 0
        cands: list[Candidate] = self.indexes.search(sig.name, [v], radius)
        return self.matcher.resolve([(ComputedSignal(sig.name, v), c, ["original"]) for c in cands])

    # --- decide and act ------------------------------------------------------------------------
    def facts_for(self, item: Item, matches: list[Match], *, deferred: bool = False,
                  history: bool | None = None) -> Facts:
        """What the rules may know about an item (see :meth:`seawall.verdicts.ItemDecider.facts_for`)."""
        return self.decider.facts_for(item, matches, deferred=deferred, history=history)

    def dry_run(self, *, item_id: str | None = None, facts: Facts | None = None,
                source: str | None = None) -> dict[str, Any]:
        """Which rules would fire for a stored item (or made-up facts), why, and what would be done."""
        if (item_id is None) == (facts is None):
            raise InvalidInput("give either item_id or facts", code="invalid_request")
        if item_id is not None:
            item = self.items.get(item_id)
            facts = self.facts_for(item, item.verdict.matches, history=True)
        assert facts is not None
        rules = self.rules.parse(source) if source is not None else self.rules.current()
        outcome = self.rules.evaluate(facts, rules)
        return {"rule_set_version": None if source is not None else rules.version, "item_id": item_id,
                "verdict": outcome.verdict, "actions": [a.to_dict() for a in outcome.actions],
                "fired": [t.rule for t in outcome.fired], "rules": [t.to_dict() for t in outcome.trace],
                "notes": outcome.notes, "facts": facts.to_dict()}

    def decide_later(self, item_id: str, actions: list[Any], *, decided_by: str, note: str = "") -> dict[str, Any]:
        """A decision taken after upload (a reviewer, a removal order): run its actions and announce them.

        The platform learns of it through the actions' webhook events (``item.removed``,
        ``item.labelled``, ``account.suspended``…), exactly as for automated decisions.
        """
        item = self.items.get(item_id)
        if item.status != "complete":
            raise InvalidInput("this item has no verdict yet; decide it after its background stage",
                               code="item_pending")
        with self.db.session() as s:
            decision = self.actions.decide_later(s, item, self.actions.parse(actions), decided_by=decided_by,
                                                 note=note)
        if decision["queued"]:
            self._events_queued()
        return decision
