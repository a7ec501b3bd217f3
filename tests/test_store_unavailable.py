"""A database that does not answer is a ``503 store_unavailable`` with ``Retry-After``, never a 500.

The store is really made unreachable: on PostgreSQL the test's database stops accepting connections
and its sessions are terminated; on SQLite the file is moved away and a directory put in its place.
A platform seeing 503 retries (the fault drills in ``test_fault_drills.py`` do exactly that across
restarts); a 500 would tell it the request itself is broken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from seawall.engine import Engine

from .conftest import PG_ADMIN_DSN, auth


@contextmanager
def store_away(engine: Engine) -> Iterator[None]:
    url = engine.db.engine.url
    engine.db.engine.dispose()
    if url.get_backend_name() == "postgresql":
        name = url.database
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            yield
        finally:
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        return
    path = Path(str(url.database))
    away = path.with_name(path.name + ".away")
    path.rename(away)
    path.mkdir()
    try:
        yield
    finally:
        engine.db.engine.dispose()
        path.rmdir()
        away.rename(path)


def test_uploads_and_reads_while_the_store_is_away_are_503_store_unavailable(
        client: TestClient, engine: Engine, keys: dict[str, str]) -> None:
    sub = auth(keys["submitter"])
    first = client.post("/v1/items", headers=sub, json={"content_id": "before", "text": "hello"})
    assert first.status_code == 200, first.text
    with store_away(engine):
        for r in (client.post("/v1/items", headers=sub, json={"content_id": "during", "text": "hello"}),
                  client.get(f"/v1/items/{first.json()['id']}", headers=sub)):
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "store_unavailable" and "retry" in r.json()["message"]
            assert int(r.headers["retry-after"]) > 0
    again = client.post("/v1/items", headers=sub, json={"content_id": "after", "text": "hello"})
    assert again.status_code == 200, again.text
    assert client.get(f"/v1/items/{first.json()['id']}", headers=sub).status_code == 200
