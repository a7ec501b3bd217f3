"""API keys: shown once, stored only as SHA-256 digests, checked with a short-lived in-memory cache.

A key reads ``sw_<key id>_<secret>``. The key id finds the row without scanning. The secret is 256
random bits, so a digest is all a stolen database needs to stay useless for forging keys: nobody can
search 2^256 secrets, and a slow password hash (argon2) would add nothing but cost — the first
request with a key in each server process waited 0.1–2 s for it. Keys made before this change keep
their argon2 hash until their first successful check, which rewrites it as a digest. A successful
check is remembered (by a SHA-256 of the whole key); after
``recheck_seconds`` (``SEAWALL_API_KEY_RECHECK_SECONDS``, default 1 s) only the revocation flag is
read again, so a key revoked by another process stops working within that time. The memory is an
LRU of bounded size, and concurrent first checks share a fixed set of lock stripes, so a flood of
bogus tokens cannot grow either.

A server also keeps a snapshot of the newest :data:`SNAPSHOT_KEYS` unrevoked keys (id, digest, role),
read at start-up and again by the background refresh every half ``recheck_seconds``: the first request
with a key in a process is then checked in memory (a SHA-256 and a comparison) instead of waiting for a
thread and a store read, which made it 2–3 times slower than the next ones. A snapshot answers only
while it is younger than ``recheck_seconds``, so a key revoked elsewhere stops working within that
time, as a cached key does; a key missing from it (newer, legacy hash, revoked) is checked in the store.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from seawall.apikey_tokens import DIGEST_PREFIX, ROLES, Principal, mint, secret_digest
from seawall.errors import NotFound, Unauthorized
from seawall.password_hashing import hasher
from seawall.store.db import Database
from seawall.store.tables import ApiKeyRow, utcnow

__all__ = ["CACHE_SECONDS", "DIGEST_PREFIX", "ROLES", "ApiKeys", "Principal", "secret_digest"]

CACHE_SECONDS = 1.0
CACHE_SIZE = 10_000
GATE_STRIPES = 64
#: Keys a snapshot holds (the newest): re-read twice per recheck interval, so kept to a cheap read.
SNAPSHOT_KEYS = 1_000


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Unrevoked keys as read at one moment: key id → (secret digest, principal); answers until ``fresh_until``."""

    keys: dict[str, tuple[str, Principal]] = field(default_factory=dict)
    fresh_until: float = float("-inf")
    #: The table's :func:`_mark` when it was read: while the mark is the same, so are the keys.
    mark: tuple[object, ...] | None = None


def _mark(s: Session) -> tuple[object, ...]:
    """Keys, newest id, revoked keys, newest revocation: any creation or revocation changes one of them.

    Read before the keys themselves, so a change between the two reads makes the next mark differ.
    """
    return tuple(s.execute(select(func.count(), func.max(ApiKeyRow.id), func.count(ApiKeyRow.revoked_at),
                                  func.max(ApiKeyRow.revoked_at))).one())


class ApiKeys:
    def __init__(self, db: Database, *, recheck_seconds: float = CACHE_SECONDS, cache_size: int = CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        #: Seconds that only go forward; tests pass a clock they step instead of sleeping past ``recheck_seconds``.
        self.clock = clock
        self.recheck_seconds = recheck_seconds
        self.cache_size = max(1, cache_size)
        #: sha256(key) → (principal, fresh until), least recently used first. An expired entry still
        #: proves the secret was verified.
        self._cache: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        #: Same key → same stripe, so concurrent first uses of one key run argon2 once.
        self._gates = tuple(threading.Lock() for _ in range(GATE_STRIPES))
        self._lock = threading.Lock()
        self._snapshot = _Snapshot()
        #: Bumped by every revocation here, so a snapshot read before it is not installed after it.
        self._revocations = 0

    def create(self, role: str, name: str = "") -> tuple[str, Principal]:
        """Create a key and return its plaintext (never stored) with the principal it stands for."""
        key = mint(role, name)
        with self.db.session() as s:
            s.add(ApiKeyRow(key_id=key.principal.key_id, secret_hash=key.secret_hash, role=role, name=name))
        return key.token, key.principal

    def revoke(self, key_id: str) -> None:
        """Stop a key. Revoking it again changes nothing: the time it was first revoked is kept (one
        conditional UPDATE, so copies run at once keep it too)."""
        with self.db.session() as s:
            if s.scalar(select(ApiKeyRow.id).where(ApiKeyRow.key_id == key_id)) is None:
                raise NotFound(f"no API key {key_id!r}", code="api_key_not_found")
            s.execute(update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
                      .values(revoked_at=utcnow()))
        with self._lock:
            self._revocations += 1
            self._snapshot = _Snapshot()  # the next refresh reads one without the key
            for digest in [k for k, v in self._cache.items() if v[0].key_id == key_id]:
                del self._cache[digest]

    def list_keys(self) -> list[dict[str, object]]:
        with self.db.session() as s:
            return [
                {"key_id": r.key_id, "role": r.role, "name": r.name, "created_at": r.created_at.isoformat(),
                 "revoked": r.revoked_at is not None}
                for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))
            ]

    def cached(self, token: str) -> Principal | None:
        """The principal if this key was checked within ``recheck_seconds`` (no database, no hashing)."""
        hit = self._cache.get(hashlib.sha256(token.encode("utf-8", "replace")).digest())
        if hit and hit[1] > self.clock():
            return hit[0]
        return None

    def load_snapshot(self) -> int:
        """Read the newest unrevoked keys into memory (see the module docstring); how many it holds.

        Only digests are held (a legacy argon2 hash is checked, and rewritten, in :meth:`authenticate`).
        """
        with self._lock:
            revocations = self._revocations
        read_at = self.clock()
        with self.db.session() as s:
            mark = _mark(s)
            rows = s.execute(select(ApiKeyRow.key_id, ApiKeyRow.secret_hash, ApiKeyRow.role, ApiKeyRow.name)
                             .where(ApiKeyRow.revoked_at.is_(None))
                             .order_by(ApiKeyRow.id.desc()).limit(SNAPSHOT_KEYS)).all()
        keys = {key_id: (stored, Principal(key_id, role, name))
                for key_id, stored, role, name in rows if stored.startswith(DIGEST_PREFIX)}
        with self._lock:
            if revocations != self._revocations:  # a key revoked here meanwhile may be in the rows
                return 0
            self._snapshot = _Snapshot(keys, read_at + self.recheck_seconds, mark)
        return len(keys)

    def refresh_snapshot(self) -> None:
        """Renew the snapshot once half its time is used (the background refresh calls this often).

        If the table's mark is unchanged the keys are too, and the snapshot only gets a new lifetime: one
        aggregate read instead of a thousand rows twice a second.
        """
        snapshot = self._snapshot
        if snapshot.fresh_until - self.clock() >= self.recheck_seconds / 2:
            return
        with self._lock:
            revocations = self._revocations
        read_at = self.clock()
        with self.db.session() as s:
            mark = _mark(s)
        if snapshot.mark is not None and mark == snapshot.mark:
            with self._lock:
                if revocations == self._revocations and self._snapshot is snapshot:
                    self._snapshot = replace(snapshot, fresh_until=read_at + self.recheck_seconds)
                    return
        self.load_snapshot()

    def from_snapshot(self, token: str) -> Principal | None:
        """The principal if the snapshot is fresh and holds this key with this secret; remembered as a check.

        None means "ask :meth:`authenticate`", never "refused": the key may be newer than the snapshot.
        """
        snapshot = self._snapshot
        if snapshot.fresh_until <= self.clock():
            return None
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "sw" or len(token) > 200:
            return None
        held = snapshot.keys.get(parts[1])
        if held is None or not hmac.compare_digest(held[0], secret_digest(parts[2])):
            return None
        principal = held[1]
        self._remember(hashlib.sha256(token.encode("utf-8", "replace")).digest(), principal, snapshot.fresh_until)
        return principal

    def verified_before(self, token: str) -> bool:
        """Whether this process verified this exact key before (even if its entry is due a recheck)."""
        return hashlib.sha256(token.encode("utf-8", "replace")).digest() in self._cache

    def authenticate(self, token: str) -> Principal:
        """The principal for a presented key, or 401.

        The secret is checked once per key and process: afterwards a key whose cache entry expired only
        needs a look at its revocation flag. Concurrent requests with the same unverified key wait for
        one check (a legacy argon2 hash costs a core for a while).
        """
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "sw" or not parts[1] or not parts[2] or len(token) > 200:
            raise Unauthorized("the API key is malformed", code="invalid_api_key")
        with self._gates[digest[0] % GATE_STRIPES]:
            now = self.clock()
            cached = self._cache.get(digest)
            if cached and cached[1] > now:
                return cached[0]
            with self.db.session() as s:
                row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == parts[1]))
            if row is None or row.revoked_at is not None:
                self._forget(digest)
                raise Unauthorized("the API key is unknown or revoked", code="invalid_api_key")
            if cached is None and not self._secret_matches(row.key_id, row.secret_hash, parts[2]):
                raise Unauthorized("the API key is unknown or revoked", code="invalid_api_key")
            principal = Principal(row.key_id, row.role, row.name)
            self._remember(digest, principal, self.clock() + self.recheck_seconds)
            return principal

    def _remember(self, digest: bytes, principal: Principal, fresh_until: float) -> None:
        with self._lock:
            self._cache.pop(digest, None)
            self._cache[digest] = (principal, fresh_until)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _secret_matches(self, key_id: str, stored: str, secret: str) -> bool:
        """Whether ``secret`` is the key's; a legacy argon2 hash that matches is rewritten as a digest
        (only if it is still the stored one, so a concurrent rewrite or revocation is not undone)."""
        if stored.startswith(DIGEST_PREFIX):
            return hmac.compare_digest(stored, secret_digest(secret))
        try:
            hasher().verify(stored, secret)
        except (VerificationError, InvalidHashError):
            return False
        with self.db.session() as s:
            s.execute(update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.secret_hash == stored)
                      .values(secret_hash=secret_digest(secret)))
        return True

    def cache_entries(self) -> int:
        """How many verified keys this process remembers (bounded by ``cache_size``)."""
        return len(self._cache)

    def _forget(self, digest: bytes) -> None:
        with self._lock:
            self._cache.pop(digest, None)
