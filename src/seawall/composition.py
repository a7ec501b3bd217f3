"""The composition root: the one place that builds Seawall's services and wires them together.

Every service is given what it uses when it is built (constructor injection); nothing is set on it
afterwards. The API app, the CLI, the background worker and the conformance kit all start Seawall
through :func:`build_engine` and :func:`start`, so start-up is written once. Review services get the
few collaborators they use (:func:`review_service`, :func:`appeal_service`, :func:`report_service`),
and so do the legal services (:func:`legal_service`), not the whole engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import select

from seawall.accounts import AccountPolicy, AccountService
from seawall.accounts.recidivism import ReappearanceService
from seawall.accounts.watch import UploadWatch, WatchPolicy
from seawall.actions import ActionRunner
from seawall.apikeys import ApiKeys
from seawall.banks.service import BankService
from seawall.config import Settings
from seawall.engine import Engine, EngineParts
from seawall.index.manager import IndexSet
from seawall.legal.clock import Clock, SystemClock
from seawall.legal.orders import OrderService
from seawall.legal.service import LegalService
from seawall.legal.settings import LegalSettings
from seawall.media.content import Content
from seawall.media.image import DecodeLimits
from seawall.media.ocr import OcrOptions
from seawall.models.records import BankEntry
from seawall.plugins import Registry, registry
from seawall.review.appeals import AppealService
from seawall.review.cases import ReviewService, open_case
from seawall.review.near_media import NearMediaIndex
from seawall.review.quality import share_sampler
from seawall.review.reappearance import open_reappearance_case
from seawall.review.reports import ReportService
from seawall.rules.service import RuleService
from seawall.sharing.feeds import FeedService
from seawall.sharing.signing import Signer
from seawall.sharing.sources import SourceService
from seawall.store.db import Database, ensure_schema
from seawall.store.group_commit import GroupCommit
from seawall.store.tables import StoreIdentityRow
from seawall.uploads.ingest import ItemService
from seawall.uploads.retro import RetroMatcher
from seawall.uploads.spool import UploadSpool
from seawall.uploads.stages import StageTwoWaiters
from seawall.verdicts.decide import ItemDecider
from seawall.verdicts.matching import Matcher
from seawall.wakeups import Wakeup
from seawall.webhooks import TargetPolicy, WebhookService

Rows = list[tuple[int, str, str]]


def build_engine(settings: Settings, *, migrate: bool = True, reg: Registry | None = None) -> Engine:
    """The engine for ``settings``: schema migrated (unless ``migrate`` is false), services wired, indexes loaded."""
    return Engine(settings, build_parts(settings, migrate=migrate, reg=reg))


def start(engine: Engine, *, follow_writes: bool = True, consume: bool | None = None) -> None:
    """Start the background work of a serving process (API or worker), the same way for both.

    ``follow_writes`` follows other processes' writes into the indexes; ``consume`` runs queued jobs
    here (default: not ``SEAWALL_API_ONLY``). Models and kernels warm up beside start-up.
    """
    if follow_writes:
        engine.start_background_refresh()
    engine.start_workers(consume=consume)
    engine.start_webhook_delivery()
    engine.start_warm_up()


def build_parts(settings: Settings, *, migrate: bool = True, reg: Registry | None = None) -> EngineParts:
    """Construct every collaborator in dependency order, each receiving what it uses."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if migrate:
        ensure_schema(url)
    db = Database(url)
    reg = reg or registry()
    events_wakeup, retro_wakeup = Wakeup(), Wakeup()
    indexes = IndexSet(reg, snapshot_dir=settings.data_dir / "index" / _store_id(db))
    matcher = Matcher(
        db, reg, indexes,
        min_quality={name: sig.min_quality_from(settings) for name, sig in reg.signal_types.items()},
        default_thresholds={name: sig.threshold_from(settings) for name, sig in reg.signal_types.items()},
    )
    limits = DecodeLimits(max_pixels=settings.max_image_pixels, jpeg_draft=settings.jpeg_draft)
    make_content = content_maker(settings, limits)
    # decide → act: rules turn matches into actions, the runner carries them out with the item's write
    accounts = AccountService(db, AccountPolicy.from_settings(settings))
    rules = RuleService(db, reg, crisis_default=settings.crisis_mode)
    webhooks = WebhookService(db, TargetPolicy(settings.webhook_allow_list), event_types=reg.event_types)
    actions = ActionRunner(reg, accounts, webhooks.outbox, cases=open_case)
    decider = ItemDecider(db, rules, accounts)
    stage_two = StageTwoWaiters()
    items = ItemService(db, reg, matcher, settings.data_dir / "spool",
                        lambda kind, data: make_content(kind, data),
                        spool_in_store=settings.nats_url is not None,  # a worker elsewhere must read the upload
                        decider=decider, after_write=actions.record, pooled=actions.pooled, on_events=events_wakeup,
                        emit=webhooks.outbox.emit, on_final=stage_two.finished,
                        writes=GroupCommit(db, max_batch=settings.group_commit_max_batch,
                                           max_wait_s=settings.group_commit_max_wait_ms / 1000))
    items.stage_two_spool = stage_two_spool(settings, db)
    # stopping re-appearance: profiles are checked when sent, new accounts' uploads in the background
    reappearance = ReappearanceService(db, webhooks.outbox, threshold=settings.reappearance_threshold,
                                       min_quality=settings.pdq_min_quality, registry=reg,
                                       on_alert=partial(open_reappearance_case, load_item=items.get))
    upload_watch = UploadWatch(reappearance, WatchPolicy(
        window=timedelta(days=settings.reappearance_new_account_days),
        max_items=settings.reappearance_upload_checks), on_alert=events_wakeup)
    # bank entries added later are matched against past items (retro-matching)
    retro = RetroMatcher(db, reg, matcher,
                         decide=lambda item, matches, notes: decider(item, matches, notes, False),
                         load_item=items.get, runner=actions, outbox=webhooks.outbox,
                         window=timedelta(days=settings.retro_window_days),
                         on_events=events_wakeup, form_index=settings.retro_hold_forms,
                         snapshot_dir=settings.data_dir / "retro-forms" / _store_id(db))
    # hash-sharing: sources pulled into banks (retro-matched like any new entry), feeds published
    signer = Signer(db)  # one instance key: signs our feed pages and our feedback to publishers
    sources = SourceService(db, reg, TargetPolicy(settings.webhook_allow_list),
                            on_change=_follow_source(indexes, retro_wakeup), signer=signer,
                            group_entries=settings.source_sync_group_entries)
    return EngineParts(
        db=db, registry=reg, indexes=indexes, matcher=matcher, banks=BankService(db, reg), items=items,
        api_keys=ApiKeys(db, recheck_seconds=settings.api_key_recheck_seconds,
                         cache_size=settings.api_key_cache_size),
        accounts=accounts, rules=rules, webhooks=webhooks, actions=actions, reappearance=reappearance,
        upload_watch=upload_watch, retro=retro, sources=sources, feeds=FeedService(db, signer),
        decider=decider, limits=limits, stage_two=stage_two, events_wakeup=events_wakeup,
        retro_wakeup=retro_wakeup)


def stage_two_spool(settings: Settings, db: Database) -> UploadSpool | None:
    """The spool directory for stage-2 bytes, or None to keep them in the store (``SEAWALL_STAGE2_SPOOL``).

    ``auto`` spools to files only where one node runs all of stage 2: a SQLite store without JetStream.
    A PostgreSQL store may be shared by several nodes whose in-process queues re-queue every pending item
    at start, and JetStream workers may run on other machines: they must read the bytes from the store.
    """
    choice = settings.stage2_spool
    if choice == "auto":
        choice = "files" if db.dialect == "sqlite" and settings.nats_url is None else "store"
    if choice == "store":
        return None
    # per store, like the index snapshots: a data dir used with another store never sweeps this one's files
    return UploadSpool(settings.data_dir / "stage2-spool" / _store_id(db), fsync=settings.stage2_spool_fsync)


def content_maker(settings: Settings, limits: DecodeLimits) -> Callable[[str, bytes], Content]:
    """How stored uploads become :class:`Content` again (background stages), with the process's limits."""
    ocr = OcrOptions.from_settings(settings)

    def make(content_type: str, data: bytes) -> Content:
        return Content(content_type=content_type, data=data, limits=limits, ocr=ocr)

    return make


def _store_id(db: Database) -> str:
    with db.session() as s:
        store_id = s.scalar(select(StoreIdentityRow.store_id).where(StoreIdentityRow.id == 1))
    return store_id or "unidentified"


def _follow_source(indexes: IndexSet, retro_wakeup: Wakeup) -> Callable[[Rows, Rows], None]:
    """A source's page was applied: make its entries matchable now and look for them in past items."""

    def changed(added: Rows, removed: Rows) -> None:
        if added:
            indexes.add(added)
        if removed:
            indexes.remove(removed)
        if added:
            retro_wakeup()

    return changed


# --- review services: each gets the collaborators it uses ----------------------------------------
def review_service(engine: Engine) -> ReviewService:
    """Cases, queues and reviewer decisions."""

    def teach(bank: str, content_type: str, data: bytes, **kw: Any) -> tuple[list[tuple[BankEntry, bool]], list[str]]:
        return engine.add_entries_from_content(bank, engine.content(content_type, data=data), **kw)

    settings = engine.settings
    return ReviewService(engine.db, items=engine.items, banks=engine.banks, actions=engine.actions,
                         add_to_bank=teach, events_queued=engine.events_queued,
                         sampler=share_sampler(settings.second_review_share),
                         near_media=NearMediaIndex(engine.db, settings.pdq_threshold),
                         daily_reveal_cap=settings.reveal_daily_cap, break_every=settings.reveal_break_every)


def appeal_service(engine: Engine) -> AppealService:
    """The one road for appeals, and their decisions."""
    return AppealService(engine.db, items=engine.items, accounts=engine.accounts, outbox=engine.webhooks.outbox,
                         actions=engine.actions, remove_entry=engine.delete_entry,
                         events_queued=engine.events_queued)


def report_service(engine: Engine) -> ReportService:
    """User reports about items, joined to review cases."""
    return ReportService(engine.db, items=engine.items, outbox=engine.webhooks.outbox,
                         events_queued=engine.events_queued)


# --- legal services ------------------------------------------------------------------------------
def legal_service(engine: Engine, *, clock: Clock | None = None, settings: LegalSettings | None = None) -> LegalService:
    """Removal orders and the clock-driven legal duties, on the system clock unless given another."""
    orders = OrderService(engine.db, items=engine.items, actions=engine.actions, accounts=engine.accounts,
                          outbox=engine.webhooks.outbox, events_queued=engine.events_queued,
                          clock=clock or SystemClock(), settings=settings or LegalSettings())
    return LegalService(engine.db, orders=orders, outbox=engine.webhooks.outbox, events_queued=engine.events_queued)
