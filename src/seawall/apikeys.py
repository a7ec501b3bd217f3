"""API keys: shown once, stored only as argon2 hashes, checked with a short-lived in-memory cache.

A key reads ``sw_<key id>_<secret>``. The key id finds the row without scanning; argon2 makes a stolen
database useless for forging keys. Verifying argon2 on every request would cost tens of
milliseconds, so a successful check is remembered (by a SHA-256 of the whole key); after a minute
only the revocation flag is read again, so a key revoked by another process stops working within a
minute.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from seawall.errors import InvalidInput, NotFound, Unauthorized
from seawall.store.db import Database
from seawall.store.tables import ApiKeyRow, utcnow

ROLES: tuple[str, ...] = ("admin", "submitter", "reviewer")
CACHE_SECONDS = 60.0

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    role: str
    name: str


class ApiKeys:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: sha256(key) → (principal, fresh until). An expired entry still proves the secret was verified.
        self._cache: dict[bytes, tuple[Principal, float]] = {}
        self._gates: dict[bytes, threading.Lock] = {}
        self._lock = threading.Lock()

    def create(self, role: str, name: str = "") -> tuple[str, Principal]:
        """Create a key and return its plaintext (never stored) with the principal it stands for."""
        if role not in ROLES:
            raise InvalidInput(f"role: must be one of {', '.join(ROLES)}", code="invalid_role")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.add(ApiKeyRow(key_id=key_id, secret_hash=_hasher.hash(secret), role=role, name=name))
        return f"sw_{key_id}_{secret}", Principal(key_id, role, name)

    def revoke(self, key_id: str) -> None:
        with self.db.session() as s:
            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
            if row is None:
                raise NotFound(f"no API key {key_id!r}", code="api_key_not_found")
            row.revoked_at = utcnow()
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0].key_id != key_id}

    def list_keys(self) -> list[dict[str, object]]:
        with self.db.session() as s:
            return [
                {"key_id": r.key_id, "role": r.role, "name": r.name, "created_at": r.created_at.isoformat(),
                 "revoked": r.revoked_at is not None}
                for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))
            ]

    def cached(self, token: str) -> Principal | None:
        """The principal if this key was checked within the last minute (no database, no argon2)."""
        hit = self._cache.get(hashlib.sha256(token.encode("utf-8", "replace")).digest())
        if hit and hit[1] > time.monotonic():
            return hit[0]
        return None

    def authenticate(self, token: str) -> Principal:
        """The principal for a presented key, or 401.

        argon2 runs once per key and process: afterwards a key whose cache entry expired only needs a
        look at its revocation flag. Concurrent requests with the same unverified key wait for one
        verification instead of each burning a core on argon2.
        """
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        with self._lock:
            gate = self._gates.setdefault(digest, threading.Lock())
        with gate:
            now = time.monotonic()
            cached = self._cache.get(digest)
            if cached and cached[1] > now:
                return cached[0]
            parts = token.split("_", 2)
            if len(parts) != 3 or parts[0] != "sw" or not parts[1] or not parts[2]:
                raise Unauthorized("the API key is malformed", code="invalid_api_key")
            with self.db.session() as s:
                row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == parts[1]))
            if row is None or row.revoked_at is not None:
                self._forget(digest)
                raise Unauthorized("the API key is unknown or revoked", code="invalid_api_key")
            if cached is None:
                try:
                    _hasher.verify(row.secret_hash, parts[2])
                except (VerificationError, InvalidHashError):
                    raise Unauthorized("the API key is unknown or revoked", code="invalid_api_key") from None
            principal = Principal(row.key_id, row.role, row.name)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                    self._gates.clear()
                self._cache[digest] = (principal, time.monotonic() + CACHE_SECONDS)
            return principal

    def _forget(self, digest: bytes) -> None:
        with self._lock:
            self._cache.pop(digest, None)
