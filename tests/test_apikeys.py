"""API keys: digests at rest (legacy argon2 hashes still accepted once, then rewritten), one check per key,
revocation seen by other processes."""

from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher

from seawall import apikeys
from seawall.apikeys import ApiKeys
from seawall.engine import Engine
from seawall.errors import Unauthorized
from seawall.store.tables import ApiKeyRow

from .clocks import SteppedClock


class CountingHasher:
    """The real argon2 hasher, counting verifications (to prove the cache avoids them)."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.calls = 0

    def hash(self, secret: str) -> str:
        return self.real.hash(secret)

    def verify(self, hash_: str, secret: str) -> bool:
        self.calls += 1
        return bool(self.real.verify(hash_, secret))


def _stored(engine: Engine, key: str) -> str:
    with engine.db.session() as s:
        return str(s.query(ApiKeyRow).filter_by(key_id=key.split("_")[1]).one().secret_hash)


def _as_legacy(engine: Engine, key: str) -> str:
    """Store the key's secret as keys made before digests were (an argon2 hash)."""
    legacy = apikeys.hasher().hash(key.split("_", 2)[2])
    with engine.db.session() as s:
        s.query(ApiKeyRow).filter_by(key_id=key.split("_")[1]).update({"secret_hash": legacy})
    return legacy


def test_secret_is_stored_only_as_a_digest(engine: Engine) -> None:
    key, _ = engine.api_keys.create("submitter", "forum")
    secret = key.split("_", 2)[2]
    stored = _stored(engine, key)
    assert stored.startswith("sha256$") and secret not in stored
    assert stored == apikeys.secret_digest(secret)
    assert ApiKeys(engine.db).authenticate(key).role == "submitter"


def test_a_legacy_argon2_key_works_and_is_rewritten_as_a_digest(engine: Engine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = engine.api_keys.create("reviewer")
    legacy = _as_legacy(engine, key)
    prefix, key_id, _secret = key.split("_", 2)
    with pytest.raises(Unauthorized):
        ApiKeys(engine.db).authenticate(f"{prefix}_{key_id}_not-the-secret")
    assert _stored(engine, key) == legacy  # a wrong secret rewrites nothing
    counter = CountingHasher(apikeys.hasher())
    monkeypatch.setattr(apikeys, "hasher", lambda: counter)
    assert ApiKeys(engine.db).authenticate(key).role == "reviewer"
    assert counter.calls == 1
    assert _stored(engine, key) == apikeys.secret_digest(key.split("_", 2)[2])
    assert ApiKeys(engine.db).authenticate(key).role == "reviewer"  # another process: digest, no argon2
    assert counter.calls == 1


def test_expired_cache_rechecks_revocation_without_argon2(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = engine.api_keys.create("submitter")
    _as_legacy(engine, key)
    clock = SteppedClock()
    other_process = ApiKeys(engine.db, recheck_seconds=0.05, clock=clock)  # another server sharing the store
    assert other_process.authenticate(key).role == "submitter"  # verified with argon2 once
    counter = CountingHasher(apikeys.hasher())
    monkeypatch.setattr(apikeys, "hasher", lambda: counter)
    assert other_process.cached(key) is not None
    clock.advance(0.04)
    assert other_process.cached(key) is not None  # still within recheck_seconds
    clock.advance(0.02)
    assert other_process.cached(key) is None
    other_process.authenticate(key)  # expired: revocation re-read, no argon2
    assert counter.calls == 0
    engine.api_keys.revoke(key.split("_")[1])
    clock.advance(0.06)
    with pytest.raises(Unauthorized):
        other_process.authenticate(key)


def test_concurrent_first_use_verifies_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = engine.api_keys.create("reviewer")
    _as_legacy(engine, key)
    keys = ApiKeys(engine.db)
    counter = CountingHasher(apikeys.hasher())
    monkeypatch.setattr(apikeys, "hasher", lambda: counter)
    threads = [threading.Thread(target=keys.authenticate, args=(key,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.calls == 1


def test_wrong_secret_for_a_known_key_id_is_refused(engine: Engine) -> None:
    key, _ = engine.api_keys.create("admin")
    prefix, key_id, _secret = key.split("_", 2)
    with pytest.raises(Unauthorized):
        ApiKeys(engine.db).authenticate(f"{prefix}_{key_id}_not-the-secret")
