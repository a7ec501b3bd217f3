"""Seawall-to-Seawall federation, the publishing side: chosen banks served as signed, paged feeds.

A feed's checkpoint is a cursor over two append-only sequences, bank entry ids and tombstone ids
(tombstones are written by a database trigger on every delete). On PostgreSQL ids are handed out at
insert, not at commit, so a slow transaction can commit an id below the cursor after the cursor
passed it; the cursor therefore also carries the commit horizon (``pg_snapshot_xmin``) it was read
under, and when the horizon moves the feed first serves, in pages, the rows whose transactions
finished in between and sit below the cursor. Nothing committed is skipped; a row may be served
twice, which subscribers absorb (entries are unique, tombstones name the publisher's entry id).

Every page names the feed, the partner, the checkpoint it continues from and the one it leads to,
and is signed with this instance's Ed25519 key, so a subscriber can refuse pages that are forged,
replayed, or that roll its checkpoint back.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, select, text, update
from sqlalchemy import cast as cast_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.bulk_gc import fewer_collections
from seawall.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from seawall.models.labels import validate_labels
from seawall.sharing.feedback_signing import open_feedback
from seawall.sharing.signing import Signer, b64, public_key_from, public_text
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import (
    BankEntryRow,
    BankEntryTombstoneRow,
    BankRow,
    FeedFeedbackRow,
    FeedPartnerRow,
    FeedRow,
    utcnow,
)
from seawall.store.upsert import insert_unless_exists

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Largest page served: big pages keep an initial sync of millions of entries to few round trips.
PAGE_MAX = 50_000
OPINIONS = ("true_positive", "false_positive", "seen")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Cursor:
    """``e.t.h.hn.l.lt``: entry id, tombstone id, commit horizon, horizon being caught up to, and the
    entry/tombstone ids reached while catching up ('-' = none)."""

    e: int = 0
    t: int = 0
    h: int | None = None
    hn: int | None = None
    le: int = 0
    lt: int = 0

    @classmethod
    def parse(cls, value: str | None) -> Cursor:
        if not value:
            return cls()
        parts = value.split(".")
        try:
            if len(parts) != 6:
                raise ValueError
            nums = [None if p == "-" else int(p) for p in parts]
            if any(n is not None and n < 0 for n in nums) or nums[0] is None or nums[1] is None:
                raise ValueError
        except ValueError:
            raise InvalidInput("after: not a checkpoint this feed issued", code="invalid_checkpoint") from None
        return cls(int(nums[0]), int(nums[1]), nums[2], nums[3], int(nums[4] or 0), int(nums[5] or 0))

    def format(self) -> str:
        def f(v: int | None) -> str:
            return "-" if v is None else str(v)

        return ".".join([str(self.e), str(self.t), f(self.h), f(self.hn), str(self.le), str(self.lt)])

    def not_behind(self, other: Cursor) -> bool:
        """Whether this cursor is at or past ``other`` (a subscriber refuses checkpoints that go back)."""
        if self.e < other.e or self.t < other.t:
            return False
        if other.h is not None and (self.h is None or self.h < other.h):
            return False
        if self.h == other.h and other.hn is not None:
            if self.hn is None:
                return True  # the catch-up finished
            if self.hn < other.hn or (self.hn == other.hn and (self.le < other.le or self.lt < other.lt)):
                return False
        return True


@dataclass(slots=True)
class Partner:
    id: int
    name: str
    feed_id: int
    feed: str
    public_key: str | None = None


class FeedService:
    def __init__(self, db: Database, signer: Signer) -> None:
        self.db = db
        self.signer = signer

    # --- management -----------------------------------------------------------------------------
    def create(self, name: str, banks: list[str], partners: list[str], *, labels: list[str] | None = None,
               contributions_bank: str | None = None, created_by: str = "") -> dict[str, Any]:
        """Publish ``banks`` as feed ``name``; returns each partner's token, shown this once only."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput("name: 1–100 letters, digits, '.', '_' or '-'", code="invalid_feed_name")
        if not banks or not all(isinstance(b, str) for b in banks):
            raise InvalidInput("banks: one or more bank names", code="invalid_feed_banks")
        if not all(isinstance(p, str) and _NAME.match(p) for p in partners):
            raise InvalidInput("partners: names of 1–100 letters, digits, '.', '_' or '-'", code="invalid_partner")
        feed_labels = validate_labels(labels or [])
        tokens: dict[str, str] = {}
        self.signer.public()  # made (and stored) before the feed's transaction, which must not wait on it
        try:
            with self.db.session() as s:
                known = set(s.scalars(select(BankRow.name).where(BankRow.name.in_(banks))))
                missing = [b for b in banks if b not in known]
                if missing:
                    raise NotFound(f"no bank named {missing[0]!r}", code="bank_not_found")
                if contributions_bank is not None:
                    self._check_contributions_bank(s, contributions_bank, banks)
                row = FeedRow(name=name, banks=list(dict.fromkeys(banks)), labels=feed_labels, enabled=True,
                              contributions_bank=contributions_bank, created_by=created_by)
                s.add(row)
                s.flush()
                for partner in dict.fromkeys(partners):
                    tokens[partner] = self._add_partner(s, row.id, partner)
                out = self._feed_dict(s, row)
        except IntegrityError:
            raise Conflict(f"a feed named {name!r} already exists", code="feed_exists") from None
        out["partners"] = [{"name": p, "token": t} for p, t in tokens.items()]
        return out

    @staticmethod
    def _add_partner(s: Session, feed_id: int, name: str) -> str:
        token = f"swf_{secrets.token_urlsafe(32)}"
        s.add(FeedPartnerRow(feed_id=feed_id, name=name, token_hash=token_hash(token)))
        return token

    def add_partner(self, feed: str, name: str) -> dict[str, str]:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput("name: 1–100 letters, digits, '.', '_' or '-'", code="invalid_partner")
        try:
            with self.db.session() as s:
                row = self._row(s, feed)
                return {"name": name, "token": self._add_partner(s, row.id, name)}
        except IntegrityError:
            raise Conflict(f"feed {feed!r} already has a partner {name!r}", code="partner_exists") from None

    def _partner(self, s: Session, feed: str, name: str) -> FeedPartnerRow:
        row = self._row(s, feed)
        partner = s.scalar(select(FeedPartnerRow).where(FeedPartnerRow.feed_id == row.id,
                                                        FeedPartnerRow.name == name))
        if partner is None:
            raise NotFound(f"feed {feed!r} has no partner {name!r}", code="partner_not_found")
        return partner

    def update_partner(self, feed: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Register (or clear) a partner's feedback key, revoke its token or restore it."""
        unknown = set(changes) - {"public_key", "revoked"}
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", code="invalid_field")
        key = changes.get("public_key")
        if "public_key" in changes and key is not None:
            if not isinstance(key, str):
                raise InvalidInput("public_key: the partner's Ed25519 public key, base64 of 32 bytes",
                                   code="invalid_public_key")
            key = public_text(public_key_from(key))
        if "revoked" in changes and not isinstance(changes["revoked"], bool):
            raise InvalidInput("revoked: true or false", code="invalid_field")
        with self.db.session() as s:
            partner = self._partner(s, feed, name)
            if "public_key" in changes:
                partner.public_key = key
            if "revoked" in changes:
                partner.revoked_at = (partner.revoked_at or utcnow()) if changes["revoked"] else None
            s.flush()
            return _partner_dict(partner)

    def delete_partner(self, feed: str, name: str) -> None:
        """Remove a partner: its token stops working and its opinions are forgotten."""
        with self.db.session() as s:
            s.delete(self._partner(s, feed, name))

    @staticmethod
    def _check_contributions_bank(s: Session, name: str, published: list[str]) -> None:
        """Partners' entries are unvetted: they may only land in a bank whose matches go to review,
        and never in a bank this feed publishes (that would relay them to every other partner)."""
        bank = s.scalar(select(BankRow).where(BankRow.name == name))
        if bank is None:
            raise NotFound(f"no bank named {name!r}", code="bank_not_found")
        if bank.default_action != "review" or bank.kind != "block":
            raise InvalidInput(f"contributions_bank: bank {name!r} must be a block bank whose default action "
                               "is review", code="contributions_bank_not_review")
        if name in published:
            raise InvalidInput("contributions_bank: must not be one of the banks the feed publishes",
                               code="contributions_bank_published")

    def contributions_bank(self, partner: Partner) -> str:
        """The review-only bank ``partner``'s pushed entries land in, or 403 when the feed takes none."""
        with self.db.session() as s:
            bank = self._row(s, partner.feed).contributions_bank
        if not bank:
            raise Forbidden(f"feed {partner.feed!r} does not accept entries from partners",
                            code="contributions_closed")
        return bank

    def _row(self, s: Session, name: str) -> FeedRow:
        row = s.scalar(select(FeedRow).where(FeedRow.name == name))
        if row is None:
            raise NotFound(f"no feed named {name!r}", code="feed_not_found")
        return row

    def _feed_dict(self, s: Session, row: FeedRow) -> dict[str, Any]:
        partners = list(s.scalars(select(FeedPartnerRow).where(FeedPartnerRow.feed_id == row.id)
                                  .order_by(FeedPartnerRow.name)))
        return {"name": row.name, "banks": list(row.banks), "labels": list(row.labels), "enabled": row.enabled,
                "contributions_bank": row.contributions_bank,
                "public_key": self.signer.public(),
                "partners": [_partner_dict(p) for p in partners]}

    def list_feeds(self) -> list[dict[str, Any]]:
        self.signer.public()
        with self.db.session() as s:
            return [self._feed_dict(s, r) for r in s.scalars(select(FeedRow).order_by(FeedRow.name))]

    def get(self, name: str) -> dict[str, Any]:
        self.signer.public()
        with self.db.session() as s:
            return self._feed_dict(s, self._row(s, name))

    def delete(self, name: str) -> None:
        with self.db.session() as s:
            s.delete(self._row(s, name))

    # --- partners -------------------------------------------------------------------------------
    def authenticate(self, feed: str, authorization: str) -> Partner:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("send the partner token as 'Authorization: Bearer <token>'", code="missing_token")
        with self.db.session() as s:
            got = s.execute(select(FeedPartnerRow, FeedRow.name).join(FeedRow, FeedRow.id == FeedPartnerRow.feed_id)
                            .where(FeedPartnerRow.token_hash == token_hash(token))).first()
        if got is None or got[0].revoked_at is not None:
            raise Unauthorized("unknown or revoked partner token", code="invalid_token")
        partner, feed_name = got
        if feed_name != feed:
            raise Forbidden(f"this token does not open feed {feed!r}", code="forbidden")
        return Partner(partner.id, partner.name, partner.feed_id, feed_name, partner.public_key)

    def still_open(self, partner: Partner) -> bool:
        """Whether ``partner``'s token still opens its feed: the live channels ask this every few
        seconds so a revoked or removed partner stops receiving pages at once, not when the stream ends."""
        with self.db.session() as s:
            revoked = s.execute(select(FeedPartnerRow.revoked_at).where(FeedPartnerRow.id == partner.id)).first()
        return revoked is not None and revoked[0] is None

    # --- pages ---------------------------------------------------------------------------------
    def page(self, partner: Partner, after: str | None, *, limit: int = 1000) -> dict[str, Any]:
        """The signed page after ``after`` (see the module docstring); may be empty."""
        body = self.page_body(partner, after, limit=limit)
        return {"page": body, "signature": self.signer.sign(body)}

    def signed_page(self, partner: Partner, after: str | None, *, limit: int = 1000) -> SignedPage:
        """The page of :meth:`page` already serialised: the canonical JSON the signature covers is written
        once and sent as it is (``{"signature": …, "page": <those bytes>}``), so the signed bytes are the
        bytes on the wire and a subscriber can check them without serialising the page again. The JSON is
        written from the page's rows directly (:func:`page_json`), not from a dictionary per entry."""
        with fewer_collections():  # a page is tens of thousands of short-lived objects
            parts = self._page_parts(partner, after, limit=limit)
            raw = page_json(parts)
        signature = b64(self.signer.key().sign(raw))
        wire = b'{"signature":"' + signature.encode("ascii") + b'","page":' + raw + b"}"
        return SignedPage(parts.checkpoint, parts.more, bool(parts.entries or parts.tombstones), wire)

    def page_body(self, partner: Partner, after: str | None, *, limit: int = 1000) -> dict[str, Any]:
        """The unsigned page after ``after``."""
        return page_dict(self._page_parts(partner, after, limit=limit))

    def _page_parts(self, partner: Partner, after: str | None, *, limit: int = 1000) -> PageParts:
        """What the page after ``after`` says. Entries are read as plain rows (no ORM objects, labels left as
        JSON text unless an entry has any): at thousands of entries a page, building objects cost more
        than the query."""
        limit = max(1, min(int(limit), PAGE_MAX))
        self.signer.public()
        start = Cursor.parse(after)
        with self.db.session() as s:
            feed = self._row(s, partner.feed)
            bank_rows = list(s.execute(select(BankRow.id, BankRow.labels).where(BankRow.name.in_(feed.banks))))
            s.execute(update(FeedPartnerRow).where(FeedPartnerRow.id == partner.id).values(last_pull_at=utcnow()))
        bank_ids = [int(r[0]) for r in bank_rows]
        bank_labels = {int(r[0]): list(r[1] or []) for r in bank_rows}
        wanted = set(feed.labels or [])
        cur = Cursor(start.e, start.t, start.h, start.hn, start.le, start.lt)
        entries: list[Any] = []
        tombs: list[Any] = []
        more = False
        horizon = self.db.commit_horizon()
        if horizon is not None and cur.hn is None and cur.h is not None and horizon > cur.h:
            cur.hn, cur.le, cur.lt = horizon, 0, 0
        with self.db.session() as s:
            if cur.hn is not None and bank_ids:
                assert cur.h is not None
                window = {"lo": cur.h, "hi": cur.hn}
                entries = _entry_rows(s, bank_ids, limit, window, BankEntryRow.id <= cur.e,
                                      BankEntryRow.id > cur.le,
                                      text("bank_entries.tx_id >= (:lo)::text::xid8 AND "
                                           "bank_entries.tx_id < (:hi)::text::xid8"))
                tombs = list(s.scalars(
                    select(BankEntryTombstoneRow).where(
                        BankEntryTombstoneRow.bank_id.in_(bank_ids), BankEntryTombstoneRow.id <= cur.t,
                        BankEntryTombstoneRow.id > cur.lt,
                        text("bank_entry_tombstones.tx_id >= (:lo)::text::xid8 AND "
                             "bank_entry_tombstones.tx_id < (:hi)::text::xid8"))
                    .order_by(BankEntryTombstoneRow.id).limit(limit), window))
                if len(entries) < limit and len(tombs) < limit:
                    cur.h, cur.hn, cur.le, cur.lt = cur.hn, None, 0, 0  # caught up
                else:
                    cur.le = entries[-1][0] if entries else cur.le
                    cur.lt = tombs[-1].id if tombs else cur.lt
                more = True
            elif cur.hn is not None:
                cur.h, cur.hn, cur.le, cur.lt = cur.hn, None, 0, 0
            if not entries and not tombs and cur.hn is None:
                more = False
                if cur.h is None and horizon is not None:
                    cur.h = horizon  # read before the id feed: anything it misses commits at or above it
                if bank_ids:
                    entries = _entry_rows(s, bank_ids, limit, None, BankEntryRow.id > cur.e)
                    tombs = list(s.scalars(select(BankEntryTombstoneRow).where(
                        BankEntryTombstoneRow.bank_id.in_(bank_ids), BankEntryTombstoneRow.id > cur.t)
                        .order_by(BankEntryTombstoneRow.id).limit(limit)))
                if entries:
                    cur.e = entries[-1][0]
                if tombs:
                    cur.t = tombs[-1].id
                more = len(entries) >= limit or len(tombs) >= limit

        def shown(labels: list[str], bank_id: int) -> bool:
            return not wanted or bool(wanted & (set(labels) | set(bank_labels.get(bank_id, []))))

        iso = _IsoCache()
        out_entries: list[EntryParts] = []
        for entry_id, bank_id, signal_type, value, labels_text, first_seen, created_at in entries:
            labels = _labels(labels_text)
            if wanted and not shown(labels, bank_id):
                continue
            extra = bank_labels.get(bank_id) or []
            shown_labels = sorted(set(labels) | set(extra)) if labels or extra else []
            out_entries.append((entry_id, signal_type, value, shown_labels, iso(first_seen or created_at)))
        return PageParts(
            feed=partner.feed, partner=partner.name, after=after or "", checkpoint=cur.format(), more=more,
            public_key=self.signer.public(), signed_at=utcnow().isoformat(), entries=out_entries,
            tombstones=[{"id": t.entry_id, "signal_type": t.signal_type, "value": t.value,
                         "deleted_at": _iso(t.deleted_at)}
                        for t in tombs if shown(list(t.labels or []), t.bank_id)],
        )

    # --- feedback -------------------------------------------------------------------------------
    def feedback(self, partner: Partner, raw: bytes) -> dict[str, Any]:
        """Record a partner's opinions on published entries, signed with its registered Ed25519 key.

        The send time moves forward in the same transaction as the opinions are written, with a
        conditional update, so of two copies of one signed call exactly one is recorded."""
        opinions, sent_at = open_feedback(raw, feed=partner.feed, partner_key=partner.public_key)
        recorded = 0
        now = utcnow()
        with self.db.session() as s:
            moved = s.execute(update(FeedPartnerRow).where(
                FeedPartnerRow.id == partner.id,
                (FeedPartnerRow.feedback_sent_at.is_(None)) | (FeedPartnerRow.feedback_sent_at < sent_at),
            ).values(feedback_sent_at=sent_at))
            if not getattr(moved, "rowcount", 0):
                raise Conflict("replayed feedback: this partner already sent feedback signed at this time or later",
                               code="replayed_feedback")
            feed = self._row(s, partner.feed)
            bank_ids = list(s.scalars(select(BankRow.id).where(BankRow.name.in_(feed.banks))))
            op: Any
            for i, op in enumerate(opinions):
                if not isinstance(op, dict) or op.get("opinion") not in OPINIONS:
                    raise InvalidInput(f"opinions[{i}]: needs 'opinion' ({', '.join(OPINIONS)}) and 'entry_id'",
                                       code="invalid_opinion")
                try:
                    entry_id = int(op.get("entry_id"))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    raise InvalidInput(f"opinions[{i}].entry_id: an entry id from this feed",
                                       code="invalid_opinion") from None
                entry = s.get(BankEntryRow, entry_id)
                if entry is None or entry.bank_id not in bank_ids:
                    continue  # withdrawn meanwhile, or never in this feed: nothing to attach it to
                # insert-or-nothing, then update: a partner re-sending one opinion concurrently is one row
                made = insert_unless_exists(s, FeedFeedbackRow, {
                    "partner_id": partner.id, "entry_id": entry_id, "signal_type": entry.signal_type,
                    "value_digest": entry.value_digest, "opinion": op["opinion"], "updated_at": now,
                }, conflict=("partner_id", "entry_id"))
                row = made or s.scalars(select(FeedFeedbackRow).where(
                    FeedFeedbackRow.partner_id == partner.id, FeedFeedbackRow.entry_id == entry_id)).one()
                if made is None and (op["opinion"] != "seen" or row.opinion == "seen"):
                    row.opinion, row.updated_at = op["opinion"], now
                recorded += 1
        return {"recorded": recorded}

    def feedback_summary(self, name: str) -> dict[str, Any]:
        """Per-partner precision (true / (true + false positives)) and per-entry opinions of a feed."""
        with self.db.session() as s:
            feed = self._row(s, name)
            rows = s.execute(
                select(FeedPartnerRow.name, FeedFeedbackRow.opinion, func.count())
                .join(FeedFeedbackRow, FeedFeedbackRow.partner_id == FeedPartnerRow.id)
                .where(FeedPartnerRow.feed_id == feed.id)
                .group_by(FeedPartnerRow.name, FeedFeedbackRow.opinion)).all()
            per_entry = s.execute(
                select(FeedFeedbackRow.entry_id, FeedFeedbackRow.signal_type, FeedPartnerRow.name,
                       FeedFeedbackRow.opinion, FeedFeedbackRow.updated_at)
                .join(FeedPartnerRow, FeedPartnerRow.id == FeedFeedbackRow.partner_id)
                .where(FeedPartnerRow.feed_id == feed.id)
                .order_by(FeedFeedbackRow.updated_at.desc()).limit(500)).all()
        partners: dict[str, dict[str, Any]] = {}
        for partner, opinion, n in rows:
            partners.setdefault(partner, {o: 0 for o in OPINIONS})[opinion] = int(n)
        for counts in partners.values():
            judged = counts["true_positive"] + counts["false_positive"]
            counts["precision"] = round(counts["true_positive"] / judged, 4) if judged else None
        entries: dict[int, dict[str, Any]] = {}
        for entry_id, signal_type, partner, opinion, at in per_entry:
            e = entries.setdefault(int(entry_id), {"entry_id": int(entry_id), "signal_type": signal_type,
                                                   "opinions": []})
            e["opinions"].append({"partner": partner, "opinion": opinion, "at": _iso(at)})
        return {"feed": name, "partners": partners, "entries": list(entries.values())}


def _partner_dict(p: FeedPartnerRow) -> dict[str, Any]:
    return {"name": p.name, "revoked": p.revoked_at is not None, "public_key": p.public_key,
            "last_pull_at": _iso(p.last_pull_at), "last_feedback_at": _iso(p.feedback_sent_at)}


def _iso(value: datetime | None) -> str | None:
    dt = aware(value)
    return dt.isoformat() if dt else None


class _IsoCache:
    """``_iso`` remembering its last answer: the entries of one import share their time stamp."""

    def __init__(self) -> None:
        self._last: datetime | None = None
        self._text: str | None = None

    def __call__(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value != self._last:
            self._last, self._text = value, _iso(value)
        return self._text


@dataclass(slots=True)
class SignedPage:
    """A page serialised and signed, ready to send."""

    checkpoint: str
    more: bool
    has_rows: bool
    wire: bytes

    @property
    def news(self) -> bool:
        """Whether a long poll should answer now: the page carries rows, or more are waiting."""
        return self.has_rows or self.more


#: An entry of a page: (id, signal type, value, labels, first seen as ISO text).
EntryParts = tuple[int, str, str, list[str], str | None]


@dataclass(slots=True)
class PageParts:
    """What one page says, before it is a dictionary (:func:`page_dict`) or canonical JSON (:func:`page_json`)."""

    feed: str
    partner: str
    after: str
    checkpoint: str
    more: bool
    public_key: str
    signed_at: str
    entries: list[EntryParts]
    tombstones: list[dict[str, Any]]


def page_dict(parts: PageParts) -> dict[str, Any]:
    """The page as the dictionary :meth:`FeedService.page` signs."""
    return {
        "feed": parts.feed, "partner": parts.partner, "after": parts.after, "checkpoint": parts.checkpoint,
        "more": parts.more, "public_key": parts.public_key, "signed_at": parts.signed_at,
        "entries": [{"id": i, "signal_type": t, "value": v, "labels": labels, "first_seen": first}
                    for i, t, v, labels, first in parts.entries],
        "tombstones": parts.tombstones,
    }


def page_json(parts: PageParts) -> bytes:
    """``canonical(page_dict(parts))``, byte for byte, written without the dictionaries: keys in sorted order
    by construction, strings escaped by the JSON module's own encoder. A page of 20,000 entries spent more
    on building a dictionary per entry and sorting its keys than on reading the rows."""
    enc = _encode_string
    entries = ",".join([
        f'{{"first_seen":{"null" if first is None else enc(first)},"id":{int(i)},'
        f'"labels":{_json_strings(labels)},"signal_type":{enc(t)},"value":{enc(v)}}}'
        for i, t, v, labels, first in parts.entries])
    tombstones = json.dumps(parts.tombstones, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (f'{{"after":{enc(parts.after)},"checkpoint":{enc(parts.checkpoint)},"entries":[{entries}],'
            f'"feed":{enc(parts.feed)},"more":{"true" if parts.more else "false"},"partner":{enc(parts.partner)},'
            f'"public_key":{enc(parts.public_key)},"signed_at":{enc(parts.signed_at)},'
            f'"tombstones":{tombstones}}}').encode()


#: The string encoder ``json.dumps(..., ensure_ascii=False)`` uses.
_encode_string: Any = json.encoder.encode_basestring


def _json_strings(values: list[str]) -> str:
    return "[" + ",".join(map(_encode_string, values)) + "]" if values else "[]"


#: Response headers repeating a page's checkpoint and ``more`` outside the signed bytes (a hint only).
CHECKPOINT_HEADER = "seawall-checkpoint"
MORE_HEADER = "seawall-more"


def read_ahead_hint(page: SignedPage) -> dict[str, str]:
    """Headers that let a subscriber request the next page before it has verified this one.

    They are not signed and a subscriber must not trust them: it applies a page only once its signature
    verifies, and uses a page fetched on the hint only when the verified checkpoint is the hinted one
    (:class:`~seawall.sharing.exchanges.seawall.SeawallFeedExchange`)."""
    return {CHECKPOINT_HEADER: page.checkpoint, MORE_HEADER: "1" if page.more else "0"}


def _entry_rows(s: Session, bank_ids: list[int], limit: int, params: dict[str, Any] | None,
                *where: Any) -> list[Any]:
    """(id, bank id, signal type, value, labels as JSON text, first seen, created at) in id order."""
    t = BankEntryRow.__table__.c
    q = (select(t.id, t.bank_id, t.signal_type, t.value, cast_(t.labels, String), t.first_seen, t.created_at)
         .where(t.bank_id.in_(bank_ids), *where).order_by(t.id).limit(limit))
    return list(s.connection().execute(q, params or {}).all())  # Core rows: no ORM result processing


def _labels(raw: Any) -> list[str]:
    """Labels read as JSON text: the common empty list without a JSON parse."""
    if raw is None or raw == "[]":
        return []
    if isinstance(raw, list):
        return [str(x) for x in raw]
    got = json.loads(raw)
    return [str(x) for x in got] if isinstance(got, list) else []
