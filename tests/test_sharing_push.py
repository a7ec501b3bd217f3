"""Pushing to sources: new entries of a source's push banks reach a real second Seawall instance by
themselves (the background runner), by ``POST /v1/sources/{name}/push`` and by ``seawall source push``;
entries that came from the source are not sent back; a refused push is retried with back-off and shows
on the source."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.sharing.runner import SourceRunner
from seawall.store.tables import BankEntryRow, BankRow
from tests.cli_runner import run_cli
from tests.conftest import auth
from tests.live_server import all_at_once
from tests.sharing_support import served
from tests.test_sharing_sources import Pair, _bank_values, _md5, _pair, _publish, serve_pair


@pytest.fixture
def pair1(tmp_path: Path) -> Iterator[Pair]:
    """A publishes, B subscribes and pushes; both on SQLite, background syncing off."""
    with _pair(Settings(data_dir=tmp_path / "a"), tmp_path) as p:
        yield p


@contextmanager
def pushing_pair(b_settings: Settings, tmp_path: Path) -> Iterator[Pair]:
    """A publishes (SQLite); B, the instance that pushes and whose cursor and counts are under test, runs
    on ``b_settings`` (each database). Background syncing is off on both."""
    a = build_engine(Settings(data_dir=tmp_path / "a", source_sync=False))
    b = build_engine(b_settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1", "source_sync": False}))
    with serve_pair(a, b) as pair:
        yield pair


def wait_until_pushable(e: Engine) -> None:
    """On PostgreSQL a push sends only entries below the commit horizon, which any transaction still open
    on the server holds back (in other databases too): wait until every entry of ``e`` is below it."""
    if e.db.dialect != "postgresql":
        return
    with e.db.session() as s:
        newest = int(s.scalar(text("SELECT max(tx_id::text::bigint) FROM bank_entries")) or 0)
    deadline = time.monotonic() + 600
    while (e.db.commit_horizon() or 0) <= newest:
        assert time.monotonic() < deadline, "a transaction on the server stayed open for ten minutes"
        time.sleep(0.05)


def _open_feed(p: Pair) -> dict[str, Any]:
    """A's feed ``open`` publishes a-known and takes partners' entries into review-only a-inbox."""
    _publish(p)
    assert p.a_api("POST", "/v1/banks", json={"name": "a-inbox", "default_action": "review"}).status_code == 201
    r = p.a_api("POST", "/v1/feeds", json={"name": "open", "banks": ["a-known"], "partners": ["platform-b"],
                                            "contributions_bank": "a-inbox"})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _source(p: Pair, feed: dict[str, Any], name: str, feed_name: str, **extra: Any) -> dict[str, Any]:
    r = p.b_api("POST", "/v1/sources", json={
        "name": name, "kind": "seawall", "url": p.a_url, "feed": feed_name, "public_key": feed["public_key"],
        "token": feed["partners"][0]["token"], "bank": "partner-a", "action": "review", **extra})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _add_b(p: Pair, bank: str, value: str) -> None:
    r = p.b_api("POST", f"/v1/banks/{bank}/entries", json={"signal_type": "md5", "value": value})
    assert r.status_code in (200, 201), r.text


def test_entries_added_to_a_push_bank_reach_the_publisher_without_echoes(pair1: Pair, tmp_path: Path) -> None:
    p = pair1
    feed = _open_feed(p)
    assert p.b_api("POST", "/v1/banks", json={"name": "b-local"}).status_code == 201
    made = _source(p, feed, "to-a", "open", push_banks=["b-local"])
    assert made["push"] == {"banks": ["b-local"], "pushed": 0, "cursor": 0, "last_push_at": None,
                            "last_error": None, "last_error_at": None, "failures": 0, "next_attempt_at": None}

    # an entry A publishes comes to B; B then pushes its target bank too: that entry is not echoed back
    published = _md5()
    assert p.a_api("POST", "/v1/banks/a-known/entries",
                   json={"signal_type": "md5", "value": published}).status_code in (200, 201)
    assert p.b_api("POST", "/v1/sources/to-a/sync").json()["added"] == 1
    assert p.b_api("PATCH", "/v1/sources/to-a", json={"push_banks": ["b-local", "partner-a"]}).status_code == 200

    # manual push (API)
    first = _md5()
    _add_b(p, "b-local", first)
    r = p.b_api("POST", "/v1/sources/to-a/push")
    assert r.status_code == 200 and r.json()["pushed"] == 1 and r.json()["error"] is None, r.text
    assert _bank_values(p.a, "a-inbox") == [first]
    status = p.b_api("GET", "/v1/sources/to-a").json()["push"]
    assert status["pushed"] == 1 and status["last_push_at"] is not None and status["last_error"] is None
    assert p.b_api("POST", "/v1/sources/to-a/push").json()["pushed"] == 0  # nothing new: nothing sent

    # the background runner sends a new entry by itself
    second = _md5()
    # the runner also syncs the source; a short long poll, so the publisher's server is not left answering
    # a 20-second one when the test stops it
    runner = SourceRunner(p.b.sources, None, tick=0.05, live_wait=0.2)
    try:
        _add_b(p, "b-local", second)
        deadline = time.monotonic() + 30
        while second not in _bank_values(p.a, "a-inbox"):
            assert time.monotonic() < deadline, "the new entry was never pushed"
            time.sleep(0.05)
    finally:
        runner.close()
    assert _bank_values(p.a, "a-inbox") == sorted([first, second])
    assert published not in _bank_values(p.a, "a-inbox")

    # the command line, against the same store
    third = _md5()
    _add_b(p, "b-local", third)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env.update(SEAWALL_DATA_DIR=str(tmp_path / "b"), SEAWALL_WEBHOOK_ALLOW_HOSTS="127.0.0.1")
    got = run_cli(["source", "push", "to-a"], env)
    assert got.returncode == 0 and "1 entries pushed" in got.stdout, got.stdout + got.stderr
    assert third in _bank_values(p.a, "a-inbox")
    assert p.b_api("GET", "/v1/sources/to-a").json()["push"]["pushed"] == 3


def test_a_refused_push_backs_off_shows_its_error_and_loses_nothing(pair1: Pair) -> None:
    p = pair1
    feed = _publish(p)  # tvec takes no contributions
    assert p.b_api("POST", "/v1/banks", json={"name": "b-local"}).status_code == 201
    _source(p, feed, "to-a", "tvec", push_banks=["b-local"])
    value = _md5()
    _add_b(p, "b-local", value)

    r = p.b_api("POST", "/v1/sources/to-a/push")
    assert r.status_code == 200 and r.json()["pushed"] == 0 and "contributions_closed" in r.json()["error"]
    status = p.b_api("GET", "/v1/sources/to-a").json()["push"]
    assert status["failures"] == 1 and status["cursor"] == 0 and "contributions_closed" in status["last_error"]
    assert status["next_attempt_at"] is not None
    assert p.b.sources.pushes.due() == []  # backing off: the background push waits
    again = p.b_api("POST", "/v1/sources/to-a/push").json()  # a manual push tries anyway
    assert again["error"] is not None
    assert p.b_api("GET", "/v1/sources/to-a").json()["push"]["failures"] == 2

    # the publisher opens the feed to contributions: the same entry goes on the next push
    assert p.a_api("POST", "/v1/banks", json={"name": "a-inbox", "default_action": "review"}).status_code == 201
    with p.a.db.session() as s:
        from sqlalchemy import update

        from seawall.store.tables import FeedRow

        s.execute(update(FeedRow).where(FeedRow.name == "tvec").values(contributions_bank="a-inbox"))
    ok = p.b_api("POST", "/v1/sources/to-a/push").json()
    assert ok["pushed"] == 1 and ok["error"] is None
    assert _bank_values(p.a, "a-inbox") == [value]
    status = p.b_api("GET", "/v1/sources/to-a").json()["push"]
    assert status["failures"] == 0 and status["last_error"] is None and status["next_attempt_at"] is None


def test_push_banks_are_checked(pair1: Pair) -> None:
    p = pair1
    feed = _publish(p)
    r = p.b_api("POST", "/v1/sources", json={
        "name": "x", "kind": "seawall", "url": p.a_url, "feed": "tvec", "public_key": feed["public_key"],
        "token": feed["partners"][0]["token"], "push_banks": ["nowhere"]})
    assert r.status_code == 404 and r.json()["code"] == "bank_not_found"
    assert p.b_api("POST", "/v1/sources", json={"name": "x", "kind": "seawall", "url": p.a_url, "feed": "tvec",
                                                 "public_key": feed["public_key"], "token": "t",
                                                 "push_banks": "b"}).json()["code"] == "invalid_push_banks"
    feed_file = Path(p.b.settings.data_dir) / "list.txt"
    feed_file.write_text(f"md5 {_md5()}\n")
    assert p.b_api("POST", "/v1/banks", json={"name": "b-local"}).status_code == 201
    r = p.b_api("POST", "/v1/sources", json={"name": "f", "kind": "file", "path": str(feed_file),
                                             "push_banks": ["b-local"]})
    assert r.status_code == 422 and r.json()["code"] == "push_unsupported"
    _source(p, feed, "no-push", "tvec")
    r = p.b_api("POST", "/v1/sources/no-push/push")
    assert r.status_code == 422 and r.json()["code"] == "push_not_configured"
    assert p.b_api("POST", "/v1/sources/nowhere/push").status_code == 404


#: More than two push batches, so concurrent pushes overlap on several batches.
CONCURRENT_ENTRIES = 1_200


@pytest.fixture
def push_pair(settings: Settings, tmp_path: Path) -> Iterator[Pair]:
    with pushing_pair(settings, tmp_path) as p:
        yield p


@pytest.mark.slow  # three served instances, 1,200 entries pushed in three batches at once
def test_simultaneous_pushes_send_each_entry_once_and_count_it_once(push_pair: Pair, settings: Settings,
                                                                     tmp_path: Path) -> None:
    """Pushes of one source at the same moment, to one node and to a second node on the same store: no 500,
    the publisher holds each entry once, the cursor ends at the last entry and the counts add up to the
    entries, in the reports and on the source."""
    p = push_pair
    feed = _open_feed(p)
    assert p.b_api("POST", "/v1/banks", json={"name": "b-local"}).status_code == 201
    _source(p, feed, "to-a", "open", push_banks=["b-local"])
    values = [_md5() for _ in range(CONCURRENT_ENTRIES)]
    assert p.b.import_entries("b-local", "text", (f"md5 {v}\n" for v in values), added_by="t").added == len(values)
    with p.b.db.session() as s:
        last_id = s.scalar(select(func.max(BankEntryRow.id)))
    wait_until_pushable(p.b)
    other = build_engine(settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1", "source_sync": False}))
    try:
        with served(create_app(engine=other, follow_writes=False)) as other_url:
            urls = [p.b_url, p.b_url, p.b_url, other_url, other_url]
            turn = iter(range(len(urls)))
            lock = threading.Lock()

            def push(c: httpx.Client) -> httpx.Response:
                with lock:
                    url = urls[next(turn)]
                return c.post(f"{url}/v1/sources/to-a/push", headers=auth(p.b_admin))

            answers = all_at_once(len(urls), push)
    finally:
        other.close()
    assert all(r.status_code == 200 for r in answers), [(r.status_code, r.text[:200]) for r in answers]
    reports = [r.json() for r in answers]
    assert all(r["error"] is None for r in reports), reports
    assert sum(r["pushed"] for r in reports) == len(values), reports
    assert all(r["cursor"] == last_id for r in reports), (last_id, reports)
    with p.a.db.session() as s:
        stored = Counter(s.scalars(select(BankEntryRow.value).join(BankRow, BankRow.id == BankEntryRow.bank_id)
                                   .where(BankRow.name == "a-inbox")))
    assert stored == Counter(values)  # every entry, each once
    status = p.b_api("GET", "/v1/sources/to-a").json()["push"]
    assert (status["cursor"], status["pushed"], status["failures"]) == (last_id, len(values), 0)
    assert p.b_api("POST", "/v1/sources/to-a/push").json()["pushed"] == 0
