"""Re-appearance detection: does a new (or unsuspended) account look like a suspended one come back?

A suspended account that returns under a new id usually keeps something: a recognisable name behind
look-alike letters and a number, the same avatar re-encoded or cropped, the same sites it links to,
the same texts, the same banned media. Each of these is weak alone (many people are called
``john_smith``, many people link to a video site), so they are scored separately and combined.

Scoring compares a query account with every *candidate* suspended account, and candidates come from
inverted indexes over the suspended accounts only (name trigrams, avatar PDQ radius search, domains,
MinHash LSH bands, matched bank entries), never from a scan, so a registration costs the same with
ten or a hundred thousand suspended accounts. The index lives in memory and is rebuilt when the set
of suspended accounts or their profiles changes (one aggregate query per check tells).

Which signal does what comes from the registry, not from here: each signal type declares its
``account_evidence`` (:class:`~seawall.signals.base.SignalType`). The ``avatar`` type (PDQ) hashes
profile pictures with its own ``compute`` and compares them with its own ``distance`` and index; the
``texts`` type (MinHash) turns stored values into slots with its own ``slots``; ``domains`` values are
compared as they are. This module only combines the evidence.

Combined score (a logistic of a weighted sum, so it reads as a probability-like number in 0–1)::

    z = bias + w_name·name + w_avatar·avatar + w_domains·domains + w_text·text + w_entries·entries
    score = 1 / (1 + e^-z)

with every feature in 0–1 (see :class:`Weights` for the values and why). A feature absent on either
side (no avatar, no texts) contributes 0, so missing evidence never counts as a difference.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import Indel, JaroWinkler
from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.orm import Session

from seawall.accounts.names import name_keys, trigrams
from seawall.accounts.service import AccountService
from seawall.errors import InvalidInput, NotFound
from seawall.index.base import SignalIndex
from seawall.media.content import Content
from seawall.media.image import DecodeLimits
from seawall.plugins import Registry
from seawall.plugins import registry as default_registry
from seawall.signals.base import SignalType
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import (
    AccountProfileRow,
    AccountRow,
    ItemRow,
    MatchRow,
    ReappearanceAlertRow,
    SuspensionRow,
    utcnow,
)
from seawall.webhooks.outbox import Outbox

MAX_NAME_CHARS = 300
#: Newest items of an account read for its domains, texts and matches; older ones add little.
ITEMS_PER_ACCOUNT = 500
#: Text signatures kept per account: enough for a habit of reposting, bounded cost per comparison.
MAX_TEXTS = 50
#: Candidates by name similarity kept per query (those sharing the most trigrams).
NAME_CANDIDATES = 50
#: An index key shared by more suspended accounts than this (a trigram like ``ohn``, a domain like a
#: video site) says nothing about who someone is and would make candidate generation a scan.
MAX_POSTING = 500
#: Radius (in the avatar signal's distance: PDQ bits) for avatar candidates; unrelated pictures are ~128 bits apart.
AVATAR_RADIUS = 64
#: Centre crops hashed per avatar. PDQ does not survive cropping (5 % off each side moves ~80 bits), and
#: re-posted avatars are often cropped; comparing centre crops of both sides at several scales finds the
#: pair whose framing agrees again (a 5 % crop of the old avatar ≈ its 90 % centre crop).
AVATAR_SCALES = (1.0, 0.95, 0.9, 0.85, 0.8)
#: Index ids of avatar hashes: account index × this + which crop.
_AVATAR_SLOTS = 8
#: MinHash LSH: 32 bands of 4 rows finds pairs from Jaccard ≈ 0.4 up with good probability.
LSH_ROWS = 4
CANDIDATES_SHOWN = 10

U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the combined score.

    Chosen so that one kind of evidence alone stays below the default threshold (0.7) — a common name,
    a popular domain or a look-alike avatar happens between strangers — while any two strong ones
    cross it: name 1 + avatar 1 → z = 3.5 (0.97); name 1 alone → z = −1.5 (0.18); avatar 1 alone →
    z = −1 (0.27); the same banned media (entries 1) plus a similar name → 0.9. Checked against the
    generated populations of ``benchmarks/bench_reappearance.py``; re-tune on your own data.
    """

    bias: float = -6.0
    name: float = 4.5
    avatar: float = 5.0
    domains: float = 3.0
    text: float = 4.0
    entries: float = 4.0


@dataclass(slots=True)
class Profile:
    """The comparable features of one account."""

    account_id: str
    username: str = ""
    display_name: str = ""
    names: list[str] = field(default_factory=list)
    #: Avatar PDQ of the centre crops (:data:`AVATAR_SCALES`), then the full picture's seven rotations/flips.
    avatar: list[str] = field(default_factory=list)
    domains: frozenset[str] = frozenset()
    minhashes: list[str] = field(default_factory=list)
    entry_ids: frozenset[int] = frozenset()
    suspension: str | None = None
    #: Stored text values → MinHash slots (the ``texts`` signal type's :meth:`~SignalType.slots`); None: no
    #: such type is registered, and texts are not compared.
    slots: Callable[[str], U32] | None = field(default=None, repr=False, compare=False)
    _sigs: list[U32] | None = None

    def signatures(self) -> list[U32]:
        if self._sigs is None:
            slots = self.slots
            self._sigs = [slots(v) for v in self.minhashes] if slots is not None else []
        return self._sigs


# --- features --------------------------------------------------------------------------------------


def name_similarity(a: Sequence[str], b: Sequence[str]) -> tuple[float, str, str]:
    """Best similarity over the two accounts' name skeletons.

    Jaro-Winkler rewards a shared start (a name with something appended), Indel a shared body (a name
    with something inserted); the mean of the two is less fooled by either pattern alone.
    """
    best, pair = 0.0, ("", "")
    for x in a:
        for y in b:
            sim = 0.5 * (JaroWinkler.normalized_similarity(x, y) + Indel.normalized_similarity(x, y))
            if sim > best:
                best, pair = sim, (x, y)
    return best, pair[0], pair[1]


def name_feature(similarity: float, length: int) -> float:
    """0 below 0.75 similarity (different names share letters by chance), rising to 1 at identical,
    discounted for short names: a 4-letter name is shared by too many strangers to count fully."""
    return max(0.0, min(1.0, (similarity - 0.75) / 0.25)) * min(1.0, length / 8)


def avatar_distance(query: Sequence[str], stored: Sequence[str],
                    distance: Callable[[str, str], int]) -> int | None:
    """Smallest distance (the avatar signal's own, PDQ: bits) between any centre crop of one avatar and
    any of the other, or between a rotation/flip of the query and the stored picture."""
    if not query or not stored:
        return None
    n = len(AVATAR_SCALES)
    qc, sc = query[:n], stored[:n]
    best = min(distance(a, b) for a in qc for b in sc)
    return min([best] + [distance(v, sc[0]) for v in query[n:]])


def avatar_feature(distance: int | None) -> float:
    """1 up to 24 bits (a re-encode, a matching crop), falling to 0 at 90; unrelated pictures sit near
    128 and their closest crop pair rarely under 100."""
    if distance is None:
        return 0.0
    return max(0.0, min(1.0, (90 - distance) / 66))


def jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def text_similarity(a: Profile, b: Profile) -> float:
    """Highest estimated Jaccard between any text of one account and any text of the other."""
    sa, sb = a.signatures(), b.signatures()
    if not sa or not sb:
        return 0.0
    ma, mb = np.stack(sa), np.stack(sb)
    equal = (ma[:, None, :] == mb[None, :, :]).sum(axis=2)
    return float(equal.max()) / ma.shape[1]


@dataclass(frozen=True, slots=True)
class Candidate:
    account_id: str
    score: float
    evidence: dict[str, Any]
    suspension: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "score": round(self.score, 4), "suspension": self.suspension,
                "evidence": self.evidence}


def score_pair(query: Profile, old: Profile, weights: Weights,
               distance: Callable[[str, str], int] | None = None) -> Candidate:
    """The combined score of one pair and the evidence behind it, in words a reviewer can check.

    ``distance`` compares avatar hashes (the avatar signal type's own); without it avatars count for nothing.
    """
    sim, qn, on = name_similarity(query.names, old.names)
    f_name = name_feature(sim, min(len(qn), len(on)))
    dist = avatar_distance(query.avatar, old.avatar, distance) if distance is not None else None
    f_avatar = avatar_feature(dist)
    f_domains = jaccard(query.domains, old.domains)
    f_text = text_similarity(query, old)
    shared_entries = query.entry_ids & old.entry_ids
    f_entries = 1 - 0.5 ** len(shared_entries)
    z = (weights.bias + weights.name * f_name + weights.avatar * f_avatar + weights.domains * f_domains
         + weights.text * f_text + weights.entries * f_entries)
    evidence: dict[str, Any] = {}
    if f_name > 0:
        evidence["name"] = {"similarity": round(sim, 3), "query": qn, "suspended": on,
                            "suspended_username": old.username}
    if f_avatar > 0:
        evidence["avatar"] = {"pdq_distance": dist}
    if f_domains > 0:
        evidence["domains"] = {"jaccard": round(f_domains, 3), "shared": sorted(query.domains & old.domains)[:20]}
    if f_text > 0.3:
        evidence["text"] = {"max_similarity": round(f_text, 3)}
    if shared_entries:
        evidence["entries"] = {"shared": sorted(shared_entries)[:20]}
    return Candidate(old.account_id, 1 / (1 + math.exp(-z)), evidence, old.suspension)


# --- candidate index over suspended accounts -----------------------------------------------------------


class SuspendedIndex:
    """Inverted indexes over the suspended accounts, so a query touches only plausible candidates."""

    def __init__(self, profiles: Iterable[Profile], avatars: SignalIndex | None = None) -> None:
        """``avatars``: an empty index of the avatar signal type (its ``create_index``); None: no avatars."""
        self.profiles = list(profiles)
        self.by_id = {p.account_id: i for i, p in enumerate(self.profiles)}
        self.grams: dict[str, list[int]] = defaultdict(list)
        self.domains: dict[str, list[int]] = defaultdict(list)
        self.bands: dict[bytes, list[int]] = defaultdict(list)
        self.entries: dict[int, list[int]] = defaultdict(list)
        self.avatars = avatars
        rows: list[tuple[int, str]] = []
        for i, p in enumerate(self.profiles):
            for g in {g for key in p.names for g in trigrams(key)}:
                self.grams[g].append(i)
            for d in p.domains:
                self.domains[d].append(i)
            for e in p.entry_ids:
                self.entries[e].append(i)
            for key in {k for sig in p.signatures() for k in _band_keys(sig)}:
                self.bands[key].append(i)
            rows.extend((i * _AVATAR_SLOTS + k, h) for k, h in enumerate(p.avatar[:len(AVATAR_SCALES)]))
        if self.avatars is not None:
            self.avatars.add(rows)

    def __len__(self) -> int:
        return len(self.profiles)

    def candidates(self, q: Profile) -> set[int]:
        found: set[int] = set()
        counts: Counter[int] = Counter()
        for g in {g for key in q.names for g in trigrams(key)}:
            posting = self.grams.get(g, [])
            if len(posting) <= MAX_POSTING:
                counts.update(posting)
        found.update(i for i, _ in counts.most_common(NAME_CANDIDATES))
        _extend(found, self.domains, q.domains)
        _extend(found, self.entries, q.entry_ids)
        _extend(found, self.bands, {k for sig in q.signatures() for k in _band_keys(sig)})
        if q.avatar and self.avatars is not None:
            found.update(c.entry_id // _AVATAR_SLOTS for c in self.avatars.search(q.avatar, AVATAR_RADIUS))
        found.discard(self.by_id.get(q.account_id, -1))
        return found


def _extend(found: set[int], table: Mapping[Any, list[int]], keys: Iterable[Any]) -> None:
    """Add the postings of ``keys``, skipping keys too common to identify anyone (:data:`MAX_POSTING`)."""
    for k in keys:
        posting = table.get(k, [])
        if len(posting) <= MAX_POSTING:
            found.update(posting)


def _band_keys(sig: U32) -> list[bytes]:
    raw = sig.astype("<u4").tobytes()
    width = LSH_ROWS * 4
    return [bytes([b]) + raw[b * width:(b + 1) * width] for b in range(len(raw) // width)]


# --- the service -------------------------------------------------------------------------------------


class ReappearanceService:
    """Profiles, scoring against suspended accounts, and the review signal when the score is high."""

    def __init__(self, db: Database, outbox: Outbox | None, *, threshold: float = 0.7,
                 weights: Weights | None = None, min_quality: int = 50, registry: Registry | None = None,
                 on_alert: Callable[[Session, str, dict[str, Any]], None] | None = None) -> None:
        self.db = db
        #: Which stored item signals are account evidence, and as what: signal name → ``domains`` / ``texts``
        #: (each signal type declares its ``account_evidence``; the comparison of each role stays here).
        reg = registry or default_registry()
        self.evidence: dict[str, str] = evidence_signals(reg)
        #: The signal type that hashes and compares profile pictures (``account_evidence = "avatar"``).
        self.avatar_signal: SignalType | None = _signal_for(reg, "avatar")
        #: Stored text evidence → MinHash slots, by the signal type whose values they are.
        self.text_slots: Callable[[str], U32] | None = _slots_of(reg)
        self.outbox = outbox
        self.threshold = threshold
        self.weights = weights or Weights()
        self.min_quality = min_quality
        #: Called in the alert's transaction (session, account id, alert): the composition root opens a review case.
        self.on_alert = on_alert
        self._lock = threading.Lock()
        self._index: SuspendedIndex | None = None
        self._index_key: tuple[Any, ...] | None = None

    # --- profiles -------------------------------------------------------------------------------
    def avatar_hashes(self, data: bytes, limits: DecodeLimits | None = None) -> tuple[list[str], int | None]:
        """Hashes of the avatar's centre crops (:data:`AVATAR_SCALES`), then of its rotations/flips, by the
        avatar signal type (PDQ); no hashes when quality is too low to mean anything (a flat colour or a
        default silhouette is shared by many strangers), or when no signal type hashes avatars."""
        sig = self.avatar_signal
        if sig is None:
            return [], None
        content = Content("image", data=data, limits=limits or DecodeLimits())
        computed = sig.compute(content, for_query=True)  # the picture as sent, then its rotations/flips
        if not computed:
            return [], None
        whole = computed[0]
        if whole.quality is not None and whole.quality < self.min_quality:
            return [], whole.quality
        pixels = content.pixels()
        h, w = pixels.shape[:2]
        crops = [whole.value]
        for scale in AVATAR_SCALES[1:]:
            dy, dx = int(h * (1 - scale) / 2), int(w * (1 - scale) / 2)
            crop = Content("image", _pixels=np.ascontiguousarray(pixels[dy:h - dy, dx:w - dx]))
            crops.append(sig.compute(crop)[0].value)
        return crops + list(whole.variants), whole.quality

    def update_profile(self, account_id: str, *, username: str, display_name: str,
                       avatar: bytes | None = None, limits: DecodeLimits | None = None) -> dict[str, Any]:
        """Store the account's profile, then check it against suspended accounts (alert if it matches).

        The profile write, the alert and its webhook event commit together, so a platform never learns
        of an alert that is not stored.
        """
        if not account_id or len(account_id) > MAX_NAME_CHARS:
            raise InvalidInput(f"account_id: 1–{MAX_NAME_CHARS} characters", code="invalid_field")
        for fname, value in (("username", username), ("display_name", display_name)):
            if len(value) > MAX_NAME_CHARS:
                raise InvalidInput(f"{fname}: at most {MAX_NAME_CHARS} characters", code="invalid_field")
        hashes, quality = self.avatar_hashes(avatar, limits) if avatar else ([], None)
        now = utcnow()
        with self.db.session() as s:
            AccountService.ensure(s, account_id)
            row = s.get(AccountProfileRow, account_id)
            if row is None:
                row = AccountProfileRow(account_id=account_id, created_at=now)
                s.add(row)
            row.username, row.display_name = username, display_name
            row.name_keys = name_keys(username, display_name)
            if avatar is not None:
                row.avatar_pdq, row.avatar_quality = hashes, quality
            features = _item_features(s, [account_id], self.evidence).get(account_id, _Features())
            row.domains, row.text_minhashes = sorted(features.domains), features.minhashes[:MAX_TEXTS]
            row.entry_ids = sorted(features.entries)
            row.updated_at = now
            s.flush()
            profile = _profile_from(row, slots=self.text_slots)
            suspended = _suspended_kinds(s, [account_id], now)
        result = self._check(profile, alert=account_id not in suspended)
        result["profile"] = profile_dict(profile, quality)
        return result

    def check(self, account_id: str) -> dict[str, Any]:
        """Candidates for an existing account (with a profile or only uploads), without raising an alert."""
        with self.db.session() as s:
            if s.get(AccountRow, account_id) is None:
                raise NotFound(f"no account {account_id!r}", code="account_not_found")
            profile = _load_profiles(s, [account_id], self.evidence, self.text_slots)[0]
            alerts = s.scalars(select(ReappearanceAlertRow).where(ReappearanceAlertRow.account_id == account_id)
                               .order_by(ReappearanceAlertRow.id.desc()).limit(20)).all()
            stored = [alert_dict(a) for a in alerts]
        result = self._check(profile, alert=False)
        result["alerts"] = stored
        return result

    def screen(self, account_id: str) -> dict[str, Any] | None:
        """Check an uploading account and raise an alert if it resembles a suspended one.

        None when there is nothing to compare with (no suspended accounts), the account is unknown,
        or it is itself suspended (it has not come back; it never left).
        """
        if not len(self.index()):
            return None
        with self.db.session() as s:
            if s.get(AccountRow, account_id) is None or _suspended_kinds(s, [account_id], utcnow()):
                return None
            profile = _load_profiles(s, [account_id], self.evidence, self.text_slots)[0]
        return self._check(profile, alert=True)

    # --- scoring --------------------------------------------------------------------------------
    def rank(self, profile: Profile) -> list[Candidate]:
        """Every candidate suspended account scored, best first."""
        index = self.index()
        distance = self.avatar_signal.distance if self.avatar_signal is not None else None
        scored = [score_pair(profile, index.profiles[i], self.weights, distance) for i in index.candidates(profile)]
        scored.sort(key=lambda c: (-c.score, c.account_id))
        return scored

    def _check(self, profile: Profile, *, alert: bool) -> dict[str, Any]:
        ranked = self.rank(profile)
        over = [c for c in ranked if c.score >= self.threshold]
        out: dict[str, Any] = {"account_id": profile.account_id, "threshold": self.threshold,
                               "flagged": bool(over), "candidates": [c.to_dict() for c in ranked[:CANDIDATES_SHOWN]],
                               "alert": None}
        if alert and over:
            out["alert"] = self._raise(profile.account_id, over[:CANDIDATES_SHOWN])
        return out

    def _raise(self, account_id: str, over: list[Candidate]) -> dict[str, Any] | None:
        """Record the alert and emit ``account.reappearance``; an identical open alert is not repeated
        (it is returned marked ``repeated``)."""
        ids = [c.account_id for c in over]
        with self.db.session() as s:
            last = s.scalars(select(ReappearanceAlertRow).where(ReappearanceAlertRow.account_id == account_id,
                                                               ReappearanceAlertRow.status == "open")
                             .order_by(ReappearanceAlertRow.id.desc()).limit(1)).first()
            if last is not None and [c["account_id"] for c in last.candidates] == ids:
                return {**alert_dict(last), "repeated": True}
            row = ReappearanceAlertRow(account_id=account_id, top_score=over[0].score, status="open",
                                       candidates=[c.to_dict() for c in over], created_at=utcnow())
            s.add(row)
            s.flush()
            result = alert_dict(row)
            if self.outbox is not None:
                self.outbox.emit(s, [("account.reappearance", {"account_id": account_id, "alert": result})])
            if self.on_alert is not None:
                self.on_alert(s, account_id, result)
        return result

    # --- the index of suspended accounts ----------------------------------------------------------
    def index(self) -> SuspendedIndex:
        """The candidate index, rebuilt when suspensions or suspended accounts' profiles changed."""
        now = utcnow()
        with self.db.session() as s:
            key = tuple(s.execute(_INDEX_KEY, {"now": now}).one())
        with self._lock:
            if self._index is not None and key == self._index_key:
                return self._index
            with self.db.session() as s:
                kinds = _suspended_kinds(s, None, now)
                profiles = _load_profiles(s, sorted(kinds), self.evidence, self.text_slots) if kinds else []
            for p in profiles:
                p.suspension = kinds[p.account_id]
            avatars = self.avatar_signal.create_index() if self.avatar_signal is not None else None
            self._index, self._index_key = SuspendedIndex(profiles, avatars), key
            return self._index


# --- store helpers ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Features:
    domains: set[str] = field(default_factory=set)
    minhashes: list[str] = field(default_factory=list)
    entries: set[int] = field(default_factory=set)


def _active_clause(now: datetime | BindParameter[datetime]) -> Any:
    return SuspensionRow.lifted_at.is_(None) & ((SuspensionRow.kind == "permanent") | (SuspensionRow.ends_at > now))


#: What the index of suspended accounts is built from, in one row (asked before every screening, so the
#: statement is built once and given the time as a bound value).
_INDEX_KEY = (
    select(func.count(SuspensionRow.id), func.max(SuspensionRow.id), func.max(AccountProfileRow.updated_at))
    .select_from(SuspensionRow)
    .outerjoin(AccountProfileRow, AccountProfileRow.account_id == SuspensionRow.account_id)
    .where(_active_clause(bindparam("now", type_=SuspensionRow.__table__.c.ends_at.type)))
)


def _suspended_kinds(s: Session, account_ids: list[str] | None, now: datetime) -> dict[str, str]:
    """Accounts under an active suspension and its kind (permanent wins over temporary)."""
    q = select(SuspensionRow.account_id, SuspensionRow.kind).where(_active_clause(now))
    if account_ids is not None:
        q = q.where(SuspensionRow.account_id.in_(account_ids))
    out: dict[str, str] = {}
    for account_id, kind in s.execute(q):
        if out.get(account_id) != "permanent":
            out[account_id] = kind
    return out


def evidence_signals(reg: Registry) -> dict[str, str]:
    """Signal name → evidence role, for every registered signal type that declares one."""
    return {name: sig.account_evidence for name, sig in reg.signal_types.items() if sig.account_evidence}


def _signal_for(reg: Registry, role: str) -> SignalType | None:
    """The first registered signal type declaring ``role`` as its account evidence."""
    return next((sig for sig in reg.signal_types.values() if sig.account_evidence == role), None)


def _slots_of(reg: Registry) -> Callable[[str], U32] | None:
    """Stored ``texts`` evidence → slots. A profile keeps its text values without their type, so with
    several ``texts`` types a value is read by the first that accepts it."""
    types = [sig for sig in reg.signal_types.values() if sig.account_evidence == "texts"]
    if not types:
        return None
    if len(types) == 1:
        return types[0].slots

    def slots(value: str) -> U32:
        for sig in types[:-1]:
            try:
                return sig.slots(value)
            except InvalidInput:
                continue
        return types[-1].slots(value)

    return slots


def _chunks(values: list[str], n: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


def _item_features(s: Session, account_ids: list[str], evidence: Mapping[str, str]) -> dict[str, _Features]:
    """Domains, text signatures and block-bank matches from the accounts' newest items."""
    out: dict[str, _Features] = defaultdict(_Features)
    per_account: Counter[str] = Counter()
    for chunk in _chunks(account_ids):
        rows = s.execute(select(ItemRow.account_id, ItemRow.signals).where(ItemRow.account_id.in_(chunk))
                         .order_by(ItemRow.received_at.desc())).all()
        for account_id, signals in rows:
            if account_id is None or per_account[account_id] >= ITEMS_PER_ACCOUNT:
                continue
            per_account[account_id] += 1
            f = out[account_id]
            for sig in signals or []:
                role = evidence.get(sig.get("type", ""))
                if role == "domains":
                    f.domains.add(sig["value"])
                elif role == "texts" and len(f.minhashes) < MAX_TEXTS:
                    f.minhashes.append(sig["value"])
        for account_id, entry_id in s.execute(
            select(ItemRow.account_id, MatchRow.entry_id).join(ItemRow, ItemRow.id == MatchRow.item_id)
            .where(ItemRow.account_id.in_(chunk), MatchRow.bank_kind == "block").distinct()
        ):
            if account_id is not None:
                out[account_id].entries.add(int(entry_id))
    return out


def _profile_from(row: AccountProfileRow, extra: _Features | None = None, *,
                  slots: Callable[[str], U32] | None) -> Profile:
    domains = set(row.domains or [])
    texts = list(row.text_minhashes or [])
    entries = {int(e) for e in row.entry_ids or []}
    if extra is not None:
        domains |= extra.domains
        texts += [t for t in extra.minhashes if t not in texts]
        entries |= extra.entries
    return Profile(account_id=row.account_id, username=row.username, display_name=row.display_name,
                   names=list(row.name_keys or []), avatar=list(row.avatar_pdq or []), domains=frozenset(domains),
                   minhashes=texts[:MAX_TEXTS], entry_ids=frozenset(entries), slots=slots)


def _load_profiles(s: Session, account_ids: list[str], evidence: Mapping[str, str],
                   slots: Callable[[str], U32] | None) -> list[Profile]:
    """Profiles for the accounts, their stored features merged with those of their current items;
    an account that never sent a profile is described by its items alone."""
    features = _item_features(s, account_ids, evidence)
    rows: dict[str, AccountProfileRow] = {}
    for chunk in _chunks(account_ids):
        rows.update((r.account_id, r) for r in s.scalars(select(AccountProfileRow)
                                                          .where(AccountProfileRow.account_id.in_(chunk))))
    out = []
    for account_id in account_ids:
        f = features.get(account_id, _Features())
        row = rows.get(account_id)
        if row is not None:
            out.append(_profile_from(row, f, slots=slots))
        else:
            out.append(Profile(account_id=account_id, domains=frozenset(f.domains), minhashes=f.minhashes[:MAX_TEXTS],
                               entry_ids=frozenset(f.entries), slots=slots))
    return out


def profile_dict(p: Profile, avatar_quality: int | None = None) -> dict[str, Any]:
    return {"account_id": p.account_id, "username": p.username, "display_name": p.display_name,
            "name_keys": p.names, "avatar_pdq": p.avatar[0] if p.avatar else None,
            "avatar_quality": avatar_quality, "domains": sorted(p.domains), "texts": len(p.minhashes),
            "entry_ids": sorted(p.entry_ids)}


def alert_dict(r: ReappearanceAlertRow) -> dict[str, Any]:
    created = aware(r.created_at)
    return {"id": r.id, "account_id": r.account_id, "score": round(r.top_score, 4), "status": r.status,
            "candidates": r.candidates, "created_at": created.isoformat() if created else None}
