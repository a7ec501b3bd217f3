"""Sources: exchanges Seawall pulls bank entries from, and the one place their pages reach the store.

Pages an exchange returns are applied in transactions that each end with the checkpoint of their last
page, and only if the stored checkpoint is still the one the first page was pulled from. A crash (even
``kill -9``) therefore resumes from the last page committed, never half of one; two nodes syncing the
same source cannot both apply a page; a re-sync of an unchanged feed adds nothing (entries are unique
per bank, signal type and value, provenance per entry and source). Network I/O happens outside
transactions, and failures are recorded with an exponential back-off, so a slow or failing exchange
never holds a lock an upload needs.

While the exchange has more pages right now, a transaction takes the next one too, up to
``GROUP_ENTRIES`` entries or ``GROUP_SECONDS``: a bank's unique key is a random digest, and each commit
(SQLite) or each INSERT (PostgreSQL) pays for every leaf of that index it touches, which for a large
bank is nearly all of them whatever the number of entries (see :mod:`~seawall.sharing.staged_entries`).
A transaction never waits for news: after a page that ended what the exchange had, it commits.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from operator import attrgetter
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.bulk_gc import fewer_collections
from seawall.errors import Conflict, InvalidInput, NotFound, SeawallError
from seawall.models.labels import validate_labels
from seawall.models.records import ACTIONS
from seawall.plugins import Registry
from seawall.sharing.backoff import backoff_seconds
from seawall.sharing.exchanges.base import (
    Exchange,
    ExchangeContext,
    ExchangeUnavailable,
    Page,
    PageRefused,
    Rejected,
    RemoteEntry,
)
from seawall.sharing.prefetch import read_ahead
from seawall.sharing.pushing import PushSender
from seawall.sharing.signing import Signer
from seawall.sharing.staged_entries import Good, StagedEntries, staged_entries
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.planner_stats import refresh_after_bulk_write
from seawall.store.tables import (
    BankEntryRow,
    BankEntrySourceRow,
    BankRow,
    SourceRow,
    utcnow,
    value_digest,
    value_digests,
)
from seawall.store.write_lock import take_write_lock
from seawall.webhooks.ssrf import TargetPolicy

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_REJECTS_KEPT = 100
#: Rows per INSERT: 11 bound values a row stays under SQLite's 32,766-variable limit.
ROWS_PER_STATEMENT = 1000
#: A transaction takes further waiting pages until it holds this many entries or has been open this long.
#: Larger groups rewrite a large bank's index less often; on SQLite the write lock is held while a
#: group is written (about a second for 100,000 entries), which uploads then wait for.
GROUP_ENTRIES = 100_000
GROUP_SECONDS = 5.0
#: A source with no successful sync for this many intervals (at least STALE_MIN) is reported stale.
STALE_INTERVALS = 3
STALE_MIN = timedelta(minutes=10)

#: (entry id, signal type, value) of entries the indexes must learn or forget.
Rows = list[tuple[int, str, str]]
_NO_LABELS: list[str] = []
_LABELS_OF = attrgetter("labels")
_FIRST_SEEN_OF = attrgetter("first_seen")
_REMOTE_ID_OF = attrgetter("remote_id")


@dataclass(slots=True)
class ApplyResult:
    added: int = 0
    seen: int = 0
    tombstones: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    new_rows: Rows = field(default_factory=list)
    removed_rows: Rows = field(default_factory=list)
    #: False when another sync applied a page from this checkpoint first (nothing was written).
    applied: bool = True


@dataclass(slots=True)
class PreparedPage:
    """A page normalised before its transaction (on the read-ahead thread, while the page before it is
    written), with the label map it was normalised under: the transaction uses it only if the source's
    map is still that one."""

    page: Page
    label_map: dict[str, str]
    good: list[Good]
    newest: datetime | None
    rejected: list[Rejected]


@dataclass(slots=True)
class SyncReport:
    source: str
    pages: int = 0
    added: int = 0
    seen: int = 0
    tombstones: int = 0
    rejected: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    refused: bool = False
    checkpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "pages": self.pages, "added": self.added, "seen": self.seen,
                "tombstones": self.tombstones, "rejected": self.rejected, "rejects": self.rejects[:MAX_REJECTS_KEPT],
                "error": self.error, "refused": self.refused, "checkpoint": self.checkpoint}


def effective_action(row: SourceRow) -> str:
    return row.trusted_action if row.trusted else row.action


def source_status(row: SourceRow, now: datetime | None = None) -> dict[str, Any]:
    """Health of one source: lag since the last success, and whether it is stale or failing."""
    now = now or utcnow()
    last = aware(row.last_success_at)
    lag = (now - last).total_seconds() if last else None
    stale_after = max(STALE_MIN, timedelta(seconds=row.interval_seconds * STALE_INTERVALS))
    created = aware(row.created_at) or now
    stale = row.enabled and ((last is None and now - created > stale_after)
                             or (last is not None and now - last > stale_after))
    return {"lag_seconds": round(lag, 3) if lag is not None else None, "stale": bool(stale),
            "failing": bool(row.enabled and row.failures > 0)}


def source_dict(row: SourceRow, exchange: type[Exchange] | None) -> dict[str, Any]:
    secret = set(exchange.secret_keys) if exchange else set()
    config = {k: ("***" if k in secret and v else v) for k, v in (row.config or {}).items()}

    def iso(v: datetime | None) -> str | None:
        dt = aware(v)
        return dt.isoformat() if dt else None

    return {
        "id": row.id, "name": row.name, "kind": row.kind, "config": config, "banks": list(row.banks or []),
        "label_map": dict(row.label_map or {}), "action": row.action, "trusted_action": row.trusted_action,
        "trusted": row.trusted, "effective_action": effective_action(row), "enabled": row.enabled,
        "interval_seconds": row.interval_seconds, "checkpoint": row.checkpoint,
        "counts": {"added": row.entries_added, "seen": row.entries_seen, "tombstones": row.tombstones_applied,
                   "rejected": row.rejected, "pages_refused": row.pages_refused},
        "last_error": row.last_error, "last_error_at": iso(row.last_error_at), "last_rejects": row.last_rejects or [],
        "last_attempt_at": iso(row.last_attempt_at), "last_success_at": iso(row.last_success_at),
        "newest_entry_at": iso(row.newest_entry_at), "failures": row.failures,
        "next_attempt_at": iso(row.next_attempt_at), "created_at": iso(row.created_at), **source_status(row),
        "push": {"banks": list(row.push_banks or []), "pushed": row.entries_pushed, "cursor": row.push_cursor,
                 "last_push_at": iso(row.last_push_at), "last_error": row.last_push_error,
                 "last_error_at": iso(row.last_push_error_at), "failures": row.push_failures,
                 "next_attempt_at": iso(row.next_push_at)},
    }


class _Waiting:
    """Hands a transaction the next page while the group has room and that page is already waiting or
    on its way (the exchange said it has more now); after a page that ended what the exchange had (a
    live long poll's answer), it hands nothing: the transaction commits rather than wait for news."""

    def __init__(self, pages: Iterator[PreparedPage], ready: Callable[[], bool], first: PreparedPage,
                 room: int | None, failed: list[BaseException], group_entries: int = GROUP_ENTRIES) -> None:
        self.pages, self.ready, self.failed = pages, ready, failed
        self.room = room
        self.group_entries = group_entries
        self.held_pages, self.held_entries = 1, len(first.good)
        self.more = first.page.more
        self.opened = time.monotonic()

    def __call__(self) -> PreparedPage | None:
        if ((self.room is not None and self.held_pages >= self.room) or self.held_entries >= self.group_entries
                or time.monotonic() - self.opened >= GROUP_SECONDS or not (self.more or self.ready())):
            return None
        try:
            page = next(self.pages, None)
        except Exception as exc:  # raised once the pages before it are committed
            self.failed.append(exc)
            return None
        if page is not None:
            self.held_pages += 1
            self.held_entries += len(page.good)
            self.more = page.page.more
        return page


class _Moved(Exception):
    """The stored checkpoint moved while a group of pages was being applied."""


class SourceService:
    """Create, change and sync sources; ``on_change`` tells the indexes and retro-matching what moved."""

    def __init__(self, db: Database, registry: Registry, policy: TargetPolicy,
                 on_change: Callable[[Rows, Rows], None] | None = None, *,
                 signer: Signer | None = None, group_entries: int = GROUP_ENTRIES) -> None:
        self.db = db
        #: Entries of consecutive pages written in one transaction at most (``SEAWALL_SOURCE_SYNC_GROUP_ENTRIES``).
        self.group_entries = group_entries
        self.registry = registry
        self.policy = policy
        self.on_change = on_change
        #: This instance's key: exchanges sign feedback to publishers with it (shared with our feeds).
        self.signer = signer
        #: Sends new entries of each source's ``push_banks`` to it.
        self.pushes = PushSender(db, self)

    # --- exchanges ------------------------------------------------------------------------------
    def exchange_type(self, kind: str) -> type[Exchange]:
        exchanges: dict[str, type[Exchange]] = getattr(self.registry, "exchanges", {})
        try:
            return exchanges[kind]
        except KeyError:
            known = ", ".join(sorted(exchanges)) or "none"
            raise InvalidInput(f"kind: unknown exchange {kind!r}; known: {known}", code="unknown_exchange") from None

    def _context(self, name: str) -> ExchangeContext:
        return ExchangeContext(self.policy, source=name, registry=self.registry,
                               signing_key=self.signer.key if self.signer is not None else None)

    def exchange_for(self, row: SourceRow) -> Exchange:
        ex = self.exchange_type(row.kind)()
        ex.configure(dict(row.config or {}), self._context(row.name))
        return ex

    # --- management -----------------------------------------------------------------------------
    def _row(self, s: Session, name: str, *, lock: bool = False) -> SourceRow:
        """The source named ``name``; with ``lock``, read under its row lock (SQLite: the write lock), for a
        change computed from what is stored (two changes at once must not both start from the same row)."""
        q = select(SourceRow).where(SourceRow.name == name)
        if lock:
            take_write_lock(s)
            q = q.with_for_update()
        row = s.scalar(q)
        if row is None:
            raise NotFound(f"no source named {name!r}", code="source_not_found")
        return row

    def _check_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = dict(fields)
        for key in ("action", "trusted_action"):
            if key in out and out[key] not in ACTIONS:
                raise InvalidInput(f"{key}: must be one of {', '.join(ACTIONS)}", code="invalid_action")
        if "label_map" in out:
            mapping = out["label_map"] or {}
            if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                        for k, v in mapping.items()):
                raise InvalidInput("label_map: an object of remote label → local label (\"\" drops it)",
                                   code="invalid_label_map")
            for remote, local in mapping.items():
                if local:
                    validate_labels([local], field=f"label_map.{remote}")
            out["label_map"] = dict(mapping)
        if "banks" in out:
            banks = out["banks"]
            if isinstance(banks, str):
                banks = [banks]
            if not isinstance(banks, list) or not banks or not all(isinstance(b, str) and _NAME.match(b)
                                                                   for b in banks):
                raise InvalidInput("bank: one or more bank names", code="invalid_bank_name")
            out["banks"] = list(dict.fromkeys(banks))
        if "push_banks" in out:
            push = out["push_banks"] or []
            if not isinstance(push, list) or not all(isinstance(b, str) and _NAME.match(b) for b in push):
                raise InvalidInput("push_banks: a list of local bank names whose new entries are sent to the source",
                                   code="invalid_push_banks")
            out["push_banks"] = list(dict.fromkeys(push))
        if "interval_seconds" in out:
            v = out["interval_seconds"]
            if not isinstance(v, int | float) or isinstance(v, bool) or not 1 <= float(v) <= 86400:
                raise InvalidInput("interval_seconds: from 1 to 86400", code="invalid_interval")
            out["interval_seconds"] = float(v)
        for key in ("enabled", "trusted"):
            if key in out and not isinstance(out[key], bool):
                raise InvalidInput(f"{key}: true or false", code="invalid_field")
        return out

    def _ensure_banks(self, s: Session, row: SourceRow) -> None:
        """Create missing target banks; the first takes the source's action policy."""
        for i, name in enumerate(row.banks):
            bank = s.scalar(select(BankRow).where(BankRow.name == name))
            if bank is None:
                s.add(BankRow(name=name, description=f"entries from source {row.name}", kind="block",
                              default_action=effective_action(row), labels=[], thresholds={}, enabled=True))
            elif i == 0 and bank.kind == "block":
                bank.default_action = effective_action(row)
                bank.updated_at = utcnow()
        s.flush()

    def _check_push(self, ex_type: type[Exchange], banks: list[str]) -> None:
        """Only an exchange that accepts entries is pushed to, and only banks that exist."""
        if not banks:
            return
        if not ex_type.supports_push:
            raise InvalidInput(f"push_banks: the {ex_type.name} exchange does not accept entries",
                               code="push_unsupported")
        with self.db.session() as s:
            known = set(s.scalars(select(BankRow.name).where(BankRow.name.in_(banks))))
        missing = [b for b in banks if b not in known]
        if missing:
            raise NotFound(f"push_banks: no bank named {missing[0]!r}", code="bank_not_found")

    def push(self, name: str) -> dict[str, Any]:
        """Send the source the new entries of its push banks now (a manual push ignores the back-off)."""
        return self.pushes.push(name).to_dict()

    def create(self, body: dict[str, Any], *, created_by: str) -> dict[str, Any]:
        name = body.get("name") or ""
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput("name: 1–100 letters, digits, '.', '_' or '-'", code="invalid_source_name")
        kind = body.get("kind")
        if not isinstance(kind, str):
            raise InvalidInput("kind: required (an exchange name)", code="invalid_source_kind")
        ex_type = self.exchange_type(kind)
        managed = {"name", "kind", "bank", "banks", "label_map", "action", "trusted_action", "trusted", "enabled",
                   "interval_seconds", "push_banks"}
        given = body.get("config")
        raw_config: dict[str, Any] = given if isinstance(given, dict) else {
            k: v for k, v in body.items() if k not in managed and k != "config"}
        config = ex_type().configure(dict(raw_config), self._context(name))
        banks = body.get("banks", body.get("bank", f"source-{name}"))
        fields = self._check_fields({
            "banks": banks, "label_map": body.get("label_map", {}), "action": body.get("action", "review"),
            "trusted_action": body.get("trusted_action", "block"), "trusted": body.get("trusted", False),
            "enabled": body.get("enabled", True), "interval_seconds": body.get("interval_seconds", 300.0),
            "push_banks": body.get("push_banks", []),
        })
        self._check_push(ex_type, fields["push_banks"])
        key = self._instance_key()
        try:
            with self.db.session() as s:
                row = SourceRow(name=name, kind=kind, config=config, created_by=created_by, last_rejects=[],
                                **fields)
                s.add(row)
                s.flush()
                self._ensure_banks(s, row)
                return self._dict(row, ex_type, key)
        except IntegrityError:
            raise Conflict(f"a source named {name!r} already exists", code="source_exists") from None

    def _instance_key(self) -> str | None:
        """This instance's public key, made (and stored) before any transaction that shows it, which
        must not wait on the key's own write."""
        return self.signer.public() if self.signer is not None else None

    def _dict(self, row: SourceRow, exchange: type[Exchange] | None, key: str | None) -> dict[str, Any]:
        out = source_dict(row, exchange)
        if exchange is not None and exchange.signs_feedback and key is not None:
            out["feedback_public_key"] = key  # what the publisher registers for us
        return out

    def list_sources(self) -> list[dict[str, Any]]:
        key = self._instance_key()
        with self.db.session() as s:
            rows = list(s.scalars(select(SourceRow).order_by(SourceRow.name)))
        return [self._dict(r, getattr(self.registry, "exchanges", {}).get(r.kind), key) for r in rows]

    def get(self, name: str) -> dict[str, Any]:
        key = self._instance_key()
        with self.db.session() as s:
            row = self._row(s, name)
        return self._dict(row, getattr(self.registry, "exchanges", {}).get(row.kind), key)

    def names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(SourceRow.name).order_by(SourceRow.name)))

    def update(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        allowed = {"banks", "bank", "label_map", "action", "trusted_action", "trusted", "enabled", "interval_seconds",
                   "config", "checkpoint", "push_banks"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", code="invalid_field")
        if "bank" in changes:
            changes["banks"] = changes.pop("bank")
        fields = self._check_fields({k: v for k, v in changes.items() if k not in ("config", "checkpoint")})
        key = self._instance_key()
        with self.db.session() as s:
            row = self._row(s, name, lock=True)  # config is merged into what is stored
            ex_type = self.exchange_type(row.kind)
            if "push_banks" in fields:
                self._check_push(ex_type, fields["push_banks"])
                if set(fields["push_banks"]) - set(row.push_banks or []):
                    fields["push_cursor"] = 0  # a bank newly pushed is sent whole (the exchange keeps one copy)
                    fields["next_push_at"] = None
            if "config" in changes:
                if not isinstance(changes["config"], dict):
                    raise InvalidInput("config: an object", code="invalid_source_config")
                merged = {**(row.config or {}), **changes["config"]}
                row.config = ex_type().configure(merged, self._context(name))
            if "checkpoint" in changes:  # an operator restarting a sync from scratch (null) or a known point
                cp = changes["checkpoint"]
                if cp is not None and not isinstance(cp, str):
                    raise InvalidInput("checkpoint: a string or null", code="invalid_field")
                row.checkpoint = cp
            for key, value in fields.items():
                setattr(row, key, value)
            if fields.get("enabled"):
                row.failures, row.next_attempt_at = 0, None
            row.updated_at = utcnow()
            s.flush()
            self._ensure_banks(s, row)
            return self._dict(row, ex_type, key)

    def delete(self, name: str) -> None:
        """Forget a source and its provenance; entries other sources or people reported stay."""
        with self.db.session() as s:
            row = self._row(s, name)
            s.execute(delete(BankEntrySourceRow).where(BankEntrySourceRow.source_id == row.id))
            s.delete(row)

    # --- applying pages -------------------------------------------------------------------------
    def _map_labels(self, labels: list[str], mapping: dict[str, str]) -> list[str]:
        if not labels:
            return []
        out: list[str] = []
        for raw in labels:
            label = mapping.get(raw, raw) if isinstance(raw, str) else ""
            if not label:
                continue
            try:
                out.extend(validate_labels([label]))
            except SeawallError:
                continue  # a partner's taxonomy differs: keep the hash, drop what we cannot name
        return list(dict.fromkeys(out))

    def _normalise(self, entries: list[RemoteEntry], sigs: dict[str, Any], mapping: dict[str, str],
                   result: ApplyResult) -> tuple[list[Good], datetime | None]:
        """A page's entries checked and put in canonical form, one batch per signal type (a page is
        thousands of values of one or two types): a bad entry is rejected with its position, the rest
        apply; a hash listed twice in a page is stored once (its last listing wins)."""
        by_type: dict[str, list[RemoteEntry]] = {}
        for e in entries:
            by_type.setdefault(e.signal_type, []).append(e)
        good: dict[tuple[str, str], Good] = {}
        rejected: list[Rejected] = []
        newest: datetime | None = None
        for spelled, group in by_type.items():
            sig = sigs.get(str(spelled).lower())
            if sig is None:
                rejected.extend(Rejected(e.position, f"unknown signal type {e.signal_type!r}") for e in group)
                continue
            name = sig.name
            values = sig.normalize_many([e.value for e in group])
            if list(map(type, values)).count(str) == len(values) and not any(map(_LABELS_OF, group)):
                # the common page: every value good, no labels; the rows are zipped together in C
                digests = value_digests(cast(list[str], values))
                firsts = list(map(_FIRST_SEEN_OF, group))
                rows = zip(repeat(name), values, digests, repeat(_NO_LABELS), repeat(_NO_LABELS), firsts,
                           map(_REMOTE_ID_OF, group))
                latest = max(filter(None, firsts), default=None)
                if latest is not None and (newest is None or latest > newest):
                    newest = latest
                if len(by_type) == 1 and len(set(digests)) == len(digests):
                    # the whole page, no hash listed twice: nothing to fold, so no (type, digest) key and
                    # dictionary slot per entry; the same rows in the same order as the folding below
                    return list(cast(Iterator[Good], rows)), newest
                good.update(zip(zip(repeat(name), digests), cast(Iterator[Good], rows), strict=True))
                continue
            digests = value_digests([v if isinstance(v, str) else "" for v in values])
            for e, value, digest in zip(group, values, digests, strict=True):
                if not isinstance(value, str):
                    reason = value.message if isinstance(value, SeawallError) else f"{type(value).__name__}: {value}"
                    rejected.append(Rejected(e.position, reason))
                    continue
                if e.labels:
                    labels = self._map_labels(list(e.labels), mapping)
                    raw = [str(x) for x in e.labels][:50]
                else:
                    labels = raw = _NO_LABELS
                good[(name, digest)] = (name, value, digest, labels, raw, e.first_seen, e.remote_id)
                first = e.first_seen
                if first is not None and (newest is None or first > newest):
                    newest = first
        if rejected:
            rejected.sort(key=lambda r: r.position)
            result.rejected.extend(rejected)
        return list(good.values()), newest

    def prepare(self, page: Page, label_map: dict[str, str]) -> PreparedPage:
        """The page's entries checked and normalised, outside any transaction (Python work that need not
        hold the store's write lock, and can run while the previous page is written)."""
        scratch = ApplyResult()
        good, newest = self._normalise(page.entries, self.registry.signal_types, label_map, scratch)
        return PreparedPage(page, label_map, good, newest, scratch.rejected)

    def apply_page(self, source_id: int, expected: str | None, page: Page,
                   prepared: PreparedPage | None = None) -> ApplyResult:
        """Apply one page and its checkpoint in one transaction (see the module docstring)."""
        applied = self._apply_group(source_id, expected, prepared or page, lambda: None)
        if applied is None:
            return ApplyResult(rejected=list(page.rejected), applied=False)
        return applied[0][1]

    def _apply_group(self, source_id: int, expected: str | None, first: PreparedPage | Page,
                     more: Callable[[], PreparedPage | None]) -> list[tuple[Page, ApplyResult]] | None:
        """Apply ``first`` and the pages ``more`` hands over (until it says None) in one transaction that
        ends with the last one's checkpoint; each page's result, or None when the stored checkpoint was
        not ``expected`` (another sync moved it: nothing is written).

        Entries are staged and written together (:mod:`~seawall.sharing.staged_entries`), but always
        before a page's tombstones or the end of a listing are applied and before a page lists again an
        entry still staged: the outcome is that of applying the pages one by one."""
        try:
            with self.db.session() as s:
                q = select(SourceRow).where(SourceRow.id == source_id)
                if self.db.dialect == "postgresql":
                    q = q.with_for_update()
                row = s.scalar(q)
                if row is None:
                    raise NotFound("the source was removed during the sync", code="source_not_found")
                if row.checkpoint != expected:
                    return None
                bank_ids = self._bank_ids(s, row)
                label_map = dict(row.label_map or {})
                staged = staged_entries(s, self.db.dialect, bank_ids, row.id, row.name)
                done: list[tuple[Page, ApplyResult]] = []
                try:
                    item: PreparedPage | Page | None = first
                    while item is not None:
                        page, prepared = (item.page, item) if isinstance(item, PreparedPage) else (item, None)
                        done.append((page, self._apply_one(s, row, bank_ids, staged, page, prepared, label_map)))
                        item = more()
                    self._write_staged(staged, done[-1][1])
                finally:
                    staged.close()
                if self.db.dialect != "postgresql" and s.scalar(
                        select(SourceRow.checkpoint).where(SourceRow.id == source_id)) != expected:
                    # SQLite holds no row lock while pages are staged: look again now that the write lock
                    # is held (nothing else can commit before this transaction does)
                    raise _Moved
                for _, result in done:  # counted once written: the group's last write is its last page's
                    row.entries_added += result.added
                    row.entries_seen += result.seen
                    row.tombstones_applied += result.tombstones
                    row.rejected += len(result.rejected)
                    if result.rejected:
                        row.last_rejects = [r.to_dict() for r in result.rejected][:MAX_REJECTS_KEPT]
                now = utcnow()
                row.checkpoint = done[-1][0].checkpoint
                row.last_success_at = now
                row.last_error, row.failures, row.next_attempt_at = None, 0, None
        except _Moved:
            return None  # rolled back: nothing of the group was written
        return done

    def _write_staged(self, staged: StagedEntries, result: ApplyResult) -> None:
        new = staged.write(utcnow())  # stamped when written: never before the page was pulled
        result.new_rows.extend(new)
        result.added += len(new)

    def _apply_one(self, s: Session, row: SourceRow, bank_ids: list[int], staged: StagedEntries, page: Page,
                   prepared: PreparedPage | None, label_map: dict[str, str]) -> ApplyResult:
        """One page's part of a group: its entries staged, its tombstones and listing end applied."""
        result = ApplyResult(rejected=list(page.rejected))
        if prepared is None or prepared.page is not page or prepared.label_map != label_map:
            prepared = self.prepare(page, label_map)
        good, newest = prepared.good, prepared.newest
        result.rejected.extend(prepared.rejected)
        result.seen += len(good)
        if staged.holds_any(good):
            self._write_staged(staged, result)
        staged.stage(good, listing=page.listing)
        if page.tombstones or page.listed_since is not None:
            self._write_staged(staged, result)
            for t in page.tombstones:
                self._tombstone(s, row, bank_ids, t.signal_type, t.value, t.remote_id, result)
            if page.listed_since is not None:
                self._withdraw_unlisted(s, row, page.listed_since, result)
        if newest is not None:
            current = aware(row.newest_entry_at)
            if current is None or newest > current:
                row.newest_entry_at = newest
        return result

    def _bank_ids(self, s: Session, row: SourceRow) -> list[int]:
        """Ids of the source's target banks in its order, creating any that went missing."""
        names = list(row.banks or [])
        found = {n: i for i, n in s.execute(select(BankRow.id, BankRow.name).where(BankRow.name.in_(names))).all()}
        if len(found) < len(names):
            self._ensure_banks(s, row)
            found = {n: i for i, n in s.execute(select(BankRow.id, BankRow.name)
                                                .where(BankRow.name.in_(names))).all()}
        return [int(found[n]) for n in names]

    def _tombstone(self, s: Session, row: SourceRow, bank_ids: list[int], signal_type: str, value: str,
                   remote_id: str | None, result: ApplyResult) -> None:
        """The source withdrew an entry: drop its provenance in every target bank; drop each copy no one
        else vouches for."""
        if remote_id is not None:
            entry_ids = list(s.scalars(select(BankEntrySourceRow.entry_id).where(
                BankEntrySourceRow.source_id == row.id, BankEntrySourceRow.remote_id == str(remote_id))))
        else:
            sig = self.registry.signal_types.get(str(signal_type).lower())
            if sig is None:
                return
            try:
                v = sig.normalize(value)
            except Exception:
                return
            entry_ids = list(s.scalars(
                select(BankEntrySourceRow.entry_id)
                .join(BankEntryRow, BankEntryRow.id == BankEntrySourceRow.entry_id)
                .where(BankEntrySourceRow.source_id == row.id, BankEntryRow.bank_id.in_(bank_ids),
                       BankEntryRow.signal_type == sig.name, BankEntryRow.value_digest == value_digest(v))))
        if entry_ids:
            result.tombstones += 1  # one withdrawal, however many target banks held the entry
        for entry_id in entry_ids:
            s.execute(delete(BankEntrySourceRow).where(BankEntrySourceRow.entry_id == entry_id,
                                                       BankEntrySourceRow.source_id == row.id))
            others = s.scalar(select(func.count()).select_from(BankEntrySourceRow)
                              .where(BankEntrySourceRow.entry_id == entry_id))
            entry = s.get(BankEntryRow, entry_id)
            if entry is not None and not others and entry.added_by.startswith("source:"):
                result.removed_rows.append((entry.id, entry.signal_type, entry.value))
                s.delete(entry)

    def _withdraw_unlisted(self, s: Session, row: SourceRow, listed_since: datetime, result: ApplyResult) -> None:
        """A full listing ended: entries of this source not seen since ``listed_since`` are no longer listed.
        Their provenance goes; an entry goes too when no other source and no person keeps it."""
        gone = s.execute(
            select(BankEntrySourceRow.entry_id, BankEntryRow.signal_type, BankEntryRow.value_digest)
            .join(BankEntryRow, BankEntryRow.id == BankEntrySourceRow.entry_id)
            .where(BankEntrySourceRow.source_id == row.id, BankEntrySourceRow.last_seen < listed_since)).all()
        if not gone:
            return
        result.tombstones += len({(t, d) for _, t, d in gone})  # one withdrawal per hash, not per bank
        ids = [int(i) for i, _, _ in gone]
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            chunk = ids[start:start + ROWS_PER_STATEMENT]
            s.execute(delete(BankEntrySourceRow).where(BankEntrySourceRow.source_id == row.id,
                                                       BankEntrySourceRow.entry_id.in_(chunk)))
            kept = select(BankEntrySourceRow.entry_id).where(BankEntrySourceRow.entry_id == BankEntryRow.id)
            orphans = s.execute(
                select(BankEntryRow.id, BankEntryRow.signal_type, BankEntryRow.value)
                .where(BankEntryRow.id.in_(chunk), BankEntryRow.added_by.startswith("source:"), ~kept.exists())
            ).all()
            if orphans:
                result.removed_rows.extend((int(i), str(t), str(v)) for i, t, v in orphans)
                s.execute(delete(BankEntryRow).where(BankEntryRow.id.in_([int(i) for i, _, _ in orphans])))

    # --- syncing --------------------------------------------------------------------------------
    def _fail(self, source_id: int, message: str, *, refused: bool = False, retry_after: float | None = None) -> None:
        with self.db.session() as s:
            row = s.get(SourceRow, source_id)
            if row is None:
                return
            row.failures += 1
            row.last_error, row.last_error_at = message[:2000], utcnow()
            if refused:
                row.pages_refused += 1
            row.next_attempt_at = utcnow() + timedelta(seconds=backoff_seconds(row.failures, retry_after))

    def _apply_pages(self, source_id: int, checkpoint: str | None, pages: Iterator[PreparedPage],
                     report: SyncReport, max_pages: int | None,
                     progress: Callable[[Page, ApplyResult], None] | None) -> None:
        """Apply pages in order, in groups while pages are waiting (module docstring), adding to ``report``.

        An exchange's failure while a group is open ends the group: the pages before it are committed,
        then the failure is raised, as if each page had been applied alone."""
        ready: Callable[[], bool] = getattr(pages, "ready", lambda: False)
        failed: list[BaseException] = []
        while max_pages is None or report.pages < max_pages:
            first = next(pages, None)
            if first is None:
                return
            room = None if max_pages is None else max_pages - report.pages
            more = _Waiting(pages, ready, first, room, failed, self.group_entries)
            applied = self._apply_group(source_id, checkpoint, first, more)
            if applied is None:
                report.error = "another sync of this source moved its checkpoint; stopped"
                return
            new_rows: Rows = []
            removed_rows: Rows = []
            for page, result in applied:
                checkpoint = page.checkpoint
                report.pages += 1
                report.added += result.added
                report.seen += result.seen
                report.tombstones += result.tombstones
                report.rejected += len(result.rejected)
                if len(report.rejects) < MAX_REJECTS_KEPT:
                    report.rejects.extend(r.to_dict() for r in result.rejected)
                report.checkpoint = checkpoint
                new_rows.extend(result.new_rows)
                removed_rows.extend(result.removed_rows)
            # the indexes learn a group's entries once it is committed, in the order they changed
            if (new_rows or removed_rows) and self.on_change is not None:
                self.on_change(new_rows, removed_rows)
            if progress is not None:
                for page, result in applied:
                    progress(page, result)
            if failed:
                raise failed[0]

    def sync(self, name: str, *, wait: float = 0.0, max_pages: int | None = None,
             progress: Callable[[Page, ApplyResult], None] | None = None) -> SyncReport:
        """Pull and apply pages until the exchange has no more (or ``max_pages``); never raises for the
        exchange's faults — they are recorded on the source, with back-off, and returned in the report."""
        with self.db.session() as s:
            row = self._row(s, name)
            s.execute(update(SourceRow).where(SourceRow.id == row.id).values(last_attempt_at=utcnow()))
        report = SyncReport(source=name, checkpoint=row.checkpoint)
        try:
            exchange = self.exchange_for(row)
        except SeawallError as exc:
            report.error = exc.message
            self._fail(row.id, exc.message)
            return report
        checkpoint = row.checkpoint
        start = checkpoint
        label_map = dict(row.label_map or {})

        def pull() -> Iterator[PreparedPage]:
            """Pages fetched, verified and normalised on the read-ahead thread."""
            raw = exchange.pull(start, wait=wait)
            try:
                for page in raw:
                    yield self.prepare(page, label_map)
            finally:
                close = getattr(raw, "close", None)
                if close is not None:
                    close()

        try:
            with fewer_collections(), read_ahead(pull, name=f"seawall-pull-{name}") as pages:
                self._apply_pages(row.id, checkpoint, pages, report, max_pages, progress)
        except PageRefused as exc:
            report.error, report.refused = exc.message, True
            log.warning("source %s: page refused: %s", name, exc.message)
            self._fail(row.id, f"page refused: {exc.message}", refused=True)
        except ExchangeUnavailable as exc:
            report.error = exc.message
            self._fail(row.id, exc.message, retry_after=exc.retry_after)
        except SeawallError as exc:
            report.error = exc.message
            self._fail(row.id, exc.message)
        except Exception as exc:  # an exchange plugin's bug must not kill the runner
            log.exception("source %s: sync failed", name)
            report.error = f"{type(exc).__name__}: {exc}"
            self._fail(row.id, report.error)
        else:
            if report.pages == 0:  # nothing new: still a successful contact
                with self.db.session() as s:
                    s.execute(update(SourceRow).where(SourceRow.id == row.id).values(
                        last_success_at=utcnow(), last_error=None, failures=0, next_attempt_at=None))
        # a large sync leaves the planner counting the banks as they were (re-syncs and feeds read them)
        refresh_after_bulk_write(self.db, report.added)
        return report

    def due(self) -> list[tuple[str, bool, float]]:
        """(name, live, interval) of enabled sources whose back-off has passed."""
        return self.due_and_any()[0]

    def due_and_any(self) -> tuple[list[tuple[str, bool, float]], bool]:
        """The due sources, and whether there is any source at all (one query for the runner's tick)."""
        now = utcnow()
        out = []
        with self.db.session() as s:
            everything = list(s.scalars(select(SourceRow)))
        rows = [r for r in everything if r.enabled]
        exchanges: dict[str, type[Exchange]] = getattr(self.registry, "exchanges", {})
        for r in rows:
            nxt = aware(r.next_attempt_at)
            if nxt is not None and nxt > now:
                continue
            ex = exchanges.get(r.kind)
            if ex is None:
                continue
            last = aware(r.last_attempt_at)
            if not ex.live and last is not None and (now - last).total_seconds() < r.interval_seconds:
                continue
            out.append((r.name, ex.live, r.interval_seconds))
        return out, bool(everything)

    def statuses(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = list(s.scalars(select(SourceRow).order_by(SourceRow.name)))
        now = utcnow()
        return [{"name": r.name, "kind": r.kind, "enabled": r.enabled, "last_error": r.last_error,
                 "entries_added": r.entries_added, **source_status(r, now)} for r in rows]
