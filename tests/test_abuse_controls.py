"""Abuse controls: rate limits per key and address, sign-in back-off that cannot lock others out,
fast key revocation across processes, bounded key memory (SQLite and PostgreSQL where a store is used)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.api.ratelimit import RateLimiter
from seawall.apikeys import ApiKeys
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.errors import Unauthorized
from seawall.review.throttle import AddressThrottle, backoff_seconds
from seawall.review.users import ConsoleUsers, LoginFailed
from seawall.store.tables import AuditRow, ConsoleUserRow
from tests.clocks import SteppedClock
from tests.conftest import auth

PASSWORD = "correct horse battery"


def test_token_bucket_admits_the_burst_then_says_when() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.retry_after("k", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.retry_after("k", now=100.0) == pytest.approx(0.5)
    assert limiter.retry_after("k", now=100.6) == 0.0  # refilled
    assert limiter.retry_after("other", now=100.0) == 0.0  # buckets are separate


def test_buckets_are_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_buckets=100)
    for i in range(1000):
        limiter.retry_after(f"addr:{i}")
    assert len(limiter) == 100
    throttle = AddressThrottle(max_addresses=50)
    for i in range(500):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle._seen) == 50


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n, 5, 60) for n in (0, 4, 5, 6, 7, 20)] == [0, 0, 1, 2, 4, 60]


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[Engine, Settings]]:
    s = settings.model_copy(update={"rate_limit_key_per_second": 0.01, "rate_limit_key_burst": 3,
                                    "rate_limit_address_per_second": 0.01, "rate_limit_address_burst": 8,
                                    "login_rate_per_minute": 30, "login_rate_burst": 30})
    eng = build_engine(s)
    try:
        yield eng, s
    finally:
        eng.close()


def test_api_rate_limit_per_key_and_per_address(limited: tuple[Engine, Settings]) -> None:
    engine, _ = limited
    first = engine.api_keys.create("reviewer", "one")[0]
    second = engine.api_keys.create("reviewer", "two")[0]
    with TestClient(create_app(engine=engine, follow_writes=False)) as client:
        assert [client.get("/v1/banks", headers=auth(first)).status_code for _ in range(3)] == [200] * 3
        r = client.get("/v1/banks", headers=auth(first))
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        # another key from the same address still has its own budget …
        assert [client.get("/v1/banks", headers=auth(second)).status_code for _ in range(3)] == [200] * 3
        # … until the address as a whole is over its limit, whatever key (or none) it sends
        r = client.get("/v1/banks", headers=auth(second))
        assert r.status_code == 429
        r = client.get("/v1/banks")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert client.get("/healthz").status_code in (200, 503)  # health checks are never limited
    with TestClient(create_app(engine=engine, follow_writes=False), client=("192.0.2.7", 1234)) as other:
        # a different address is untouched (the key's own budget is still spent, so use the second key)
        assert other.get("/v1/banks", headers=auth(engine.api_keys.create("reviewer", "three")[0])).status_code == 200


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def _attempt(client: TestClient, username: str, password: str) -> tuple[int, str]:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": password,
                                            "csrf_token": _csrf(page.text)}, follow_redirects=False)
    return r.status_code, r.text if r.status_code != 303 else ""


def test_failed_sign_ins_back_off_the_address_not_the_account(limited: tuple[Engine, Settings]) -> None:
    engine, _ = limited
    users = ConsoleUsers(engine.db)
    users.create("admin", PASSWORD, "admin")
    users.create("kim", PASSWORD, "reviewer")
    app = create_app(engine=engine, follow_writes=False)
    with TestClient(app, client=("198.51.100.1", 1)) as admin_browser:
        assert _attempt(admin_browser, "admin", PASSWORD)[0] == 303  # a known browser gets its device cookie
        assert admin_browser.cookies.get("seawall_device")
    # an attacker sprays from one address: after five failures that address backs off, for every account
    with TestClient(app, client=("203.0.113.9", 1)) as attacker:
        for name in ("admin", "kim", "admin", "kim", "nobody"):
            assert _attempt(attacker, name, "wrong password!")[0] == 401
        status, text = _attempt(attacker, "kim", PASSWORD)
        assert status == 401 and "temporarily locked" in text
    # another address is not affected by the first address's failures
    with TestClient(app, client=("198.51.100.2", 1)) as colleague:
        assert _attempt(colleague, "kim", PASSWORD)[0] == 303
    # a distributed attack on the admin account: each address fails once, the account starts backing off …
    with TestClient(app, client=("203.0.113.200", 1)) as stranger:
        # the bots share the running app (no start-up of their own), so the attempts follow each other
        # closely: the account's first back-off is 1 s after the fifth failure
        for i in range(8):
            bot = TestClient(app, client=(f"203.0.113.{100 + i}", 1))
            assert _attempt(bot, "admin", "wrong password!")[0] == 401
        status, text = _attempt(stranger, "admin", PASSWORD)
        assert status == 401 and "temporarily locked" in text  # even with the right password
    # … but the admin's own browser (device cookie) is not locked out
    with TestClient(app, client=("198.51.100.1", 1),
                    cookies={"seawall_device": admin_browser.cookies.get("seawall_device") or ""}) as again:
        assert _attempt(again, "admin", PASSWORD)[0] == 303


def test_failed_sign_ins_from_many_addresses_at_once_are_each_counted(engine: Engine) -> None:
    """A distributed attack sends its guesses at once: every failure counts towards the account's back-off
    (none lost to another failure written at the same moment), as the audit log records them."""
    users = ConsoleUsers(engine.db, free_failures=1000)  # count only: no back-off refuses a guess here
    users.create("kim", PASSWORD, "reviewer")
    bots = 20
    barrier = threading.Barrier(bots)

    def guess(i: int) -> str:
        barrier.wait()
        try:
            users.login("kim", "wrong password!", client=f"203.0.113.{i}")
        except LoginFailed as exc:
            return str(exc)
        return "signed in"

    with ThreadPoolExecutor(bots) as pool:
        answers = list(pool.map(guess, range(bots)))
    assert set(answers) == {"wrong username or password"}, answers
    with engine.db.session() as s:
        failures = s.scalar(select(ConsoleUserRow.failed_logins).where(ConsoleUserRow.username == "kim"))
        logged = s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "login.failed"))
    assert (failures, logged) == (bots, bots)


def test_login_requests_are_rate_limited_per_address(settings: Settings) -> None:
    s = settings.model_copy(update={"login_rate_per_minute": 1, "login_rate_burst": 3})
    engine = build_engine(s)
    try:
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            codes = [_attempt(client, "nobody", "x" * 12)[0] for _ in range(4)]
            assert codes[:3] == [401, 401, 401] and codes[3] == 429
            page = client.get("/console/login")
            r = client.post("/console/login", data={"username": "a", "password": "b", "csrf_token": _csrf(page.text)})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert client.get("/console/login").status_code == 200  # the page itself is not limited
    finally:
        engine.close()


def test_revocation_reaches_another_process_within_a_second(engine: Engine) -> None:
    key, principal = engine.api_keys.create("submitter", "partner")
    clock = SteppedClock()
    other = ApiKeys(engine.db, clock=clock)  # another server process sharing the store, default settings
    assert other.authenticate(key).key_id == principal.key_id
    engine.api_keys.revoke(principal.key_id)
    assert Settings().api_key_recheck_seconds <= 1.0
    clock.advance(Settings().api_key_recheck_seconds)
    assert other.cached(key) is None
    with pytest.raises(Unauthorized):
        other.authenticate(key)


def test_key_memory_is_bounded_and_bogus_tokens_leave_nothing(engine: Engine) -> None:
    keys = ApiKeys(engine.db, cache_size=3)
    made = [engine.api_keys.create("reviewer", f"k{i}")[0] for i in range(5)]
    for key in made:
        keys.authenticate(key)
    assert keys.cache_entries() == 3
    assert keys.cached(made[-1]) is not None and keys.cached(made[0]) is None  # least recently used went first
    for i in range(300):
        for bogus in (f"sw_{i:012x}_nope", f"garbage-{i}"):
            with pytest.raises(Unauthorized):
                keys.authenticate(bogus)
    assert keys.cache_entries() == 3


def test_an_address_presenting_bad_keys_is_slowed_down(settings: Settings) -> None:
    engine = build_engine(settings.model_copy(update={"auth_failures_per_second": 0.01, "auth_failures_burst": 5}))
    try:
        good = engine.api_keys.create("reviewer", "good")[0]
        clock = SteppedClock()
        engine.api_keys.clock = clock
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            assert client.get("/v1/banks", headers=auth(good)).status_code == 200  # verified, remembered
            codes = [client.get("/v1/banks", headers=auth(f"sw_{i:012x}_guess")).status_code for i in range(6)]
            assert codes == [401] * 5 + [429]
            r = client.get("/v1/banks", headers=auth("sw_000000000000_guess"))
            assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
            # a key this process already verified keeps working from that address, also after its recheck
            clock.advance(Settings().api_key_recheck_seconds)
            assert engine.api_keys.cached(good) is None
            assert client.get("/v1/banks", headers=auth(good)).status_code == 200
        with TestClient(create_app(engine=engine, follow_writes=False), client=("192.0.2.8", 1)) as other:
            assert other.get("/v1/banks", headers=auth("sw_000000000000_guess")).status_code == 401
    finally:
        engine.close()
