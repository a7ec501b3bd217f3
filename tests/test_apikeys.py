"""API keys: digests at rest (legacy argon2 hashes still accepted once, then rewritten), one check per key,
revocation seen by other processes."""

from __future__ import annotations

import threading
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from seawall import apikeys
from seawall.apikeys import ApiKeys
from seawall.engine import Engine
from seawall.errors import NotFound, Unauthorized
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


class CountingReads:
    """Counts statements reading the api_keys table on a store (to prove a snapshot hit reads nothing)."""

    def __init__(self, engine: Engine, also: str = "") -> None:
        from sqlalchemy import event

        self.reads = 0

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if "FROM api_keys" in statement and also in statement:
                self.reads += 1

        event.listen(engine.db.engine, "before_cursor_execute", count)


def test_a_key_in_the_snapshot_is_checked_without_the_store(engine: Engine) -> None:
    key, principal = engine.api_keys.create("submitter", "platform")
    keys = ApiKeys(engine.db, clock=SteppedClock())  # a server process starting
    assert keys.load_snapshot() == 1
    reads = CountingReads(engine)
    prefix, key_id, _secret = key.split("_", 2)
    assert keys.from_snapshot(f"{prefix}_{key_id}_not-the-secret") is None  # the secret is still checked
    assert keys.from_snapshot(key) == principal
    assert keys.cached(key) == principal and keys.verified_before(key)
    assert keys.authenticate(key) == principal
    assert reads.reads == 0
    newer, _ = engine.api_keys.create("reviewer", "newer")
    assert keys.from_snapshot(newer) is None  # not in the snapshot: not refused, checked in the store
    assert keys.authenticate(newer).role == "reviewer"


def test_a_key_revoked_elsewhere_stops_working_within_the_recheck_time(engine: Engine) -> None:
    key, principal = engine.api_keys.create("submitter")
    clock = SteppedClock()
    keys = ApiKeys(engine.db, recheck_seconds=1.0, clock=clock)
    keys.load_snapshot()
    assert keys.from_snapshot(key) == principal
    engine.api_keys.revoke(principal.key_id)  # another process of the same store
    clock.advance(0.4)
    keys.refresh_snapshot()  # not due yet (half the recheck time): the old snapshot still answers
    assert keys.from_snapshot(key) == principal
    clock.advance(0.2)
    keys.refresh_snapshot()  # due: read again, without the revoked key
    assert keys.from_snapshot(key) is None
    clock.advance(0.5)  # the entry remembered from the old snapshot expires with it
    assert keys.cached(key) is None
    with pytest.raises(Unauthorized):
        keys.authenticate(key)
    # a snapshot nobody refreshes answers for recheck_seconds only
    other, _ = engine.api_keys.create("submitter")
    keys.load_snapshot()
    clock.advance(1.0)
    assert keys.from_snapshot(other) is None


def test_an_unchanged_table_renews_the_snapshot_without_reading_the_keys(engine: Engine) -> None:
    key, principal = engine.api_keys.create("submitter")
    clock = SteppedClock()
    keys = ApiKeys(engine.db, recheck_seconds=1.0, clock=clock)
    keys.load_snapshot()
    reads = CountingReads(engine, "ORDER BY")
    for _ in range(5):
        clock.advance(0.6)
        keys.refresh_snapshot()
        assert keys.from_snapshot(key) == principal
    assert reads.reads == 0
    newer, _ = engine.api_keys.create("reviewer")  # a new key changes the mark: the keys are read again
    clock.advance(0.6)
    keys.refresh_snapshot()
    assert reads.reads == 1 and keys.from_snapshot(newer) is not None


def test_a_key_revoked_here_leaves_the_snapshot_at_once(engine: Engine) -> None:
    key, principal = engine.api_keys.create("submitter")
    kept, _ = engine.api_keys.create("submitter", "kept")
    engine.api_keys.load_snapshot()
    assert engine.api_keys.from_snapshot(key) == principal
    engine.api_keys.revoke(principal.key_id)
    assert engine.api_keys.cached(key) is None and engine.api_keys.from_snapshot(key) is None
    with pytest.raises(Unauthorized):
        engine.api_keys.authenticate(key)
    engine.api_keys.refresh_snapshot()
    assert engine.api_keys.from_snapshot(key) is None and engine.api_keys.from_snapshot(kept) is not None


def test_the_snapshot_holds_digests_only(engine: Engine) -> None:
    """A legacy argon2 key is left to authenticate, which verifies it once and rewrites it."""
    key, _ = engine.api_keys.create("reviewer")
    _as_legacy(engine, key)
    keys = ApiKeys(engine.db)
    assert keys.load_snapshot() == 0 and keys.from_snapshot(key) is None
    assert keys.authenticate(key).role == "reviewer"


def test_revoking_a_key_again_keeps_the_time_it_was_revoked(engine: Engine) -> None:
    _, principal = engine.api_keys.create("submitter", "leaked")

    def revoked_at() -> object:
        with engine.db.session() as s:
            return s.scalar(select(ApiKeyRow.revoked_at).where(ApiKeyRow.key_id == principal.key_id))

    engine.api_keys.revoke(principal.key_id)
    first = revoked_at()
    assert first is not None
    time.sleep(0.01)
    engine.api_keys.revoke(principal.key_id)
    assert revoked_at() == first
    with pytest.raises(NotFound):
        engine.api_keys.revoke("no-such-key")
