"""Shared fixtures: an engine and API client on SQLite and on a real PostgreSQL database.

The PostgreSQL database is created for the test run on 127.0.0.1:5432 and dropped afterwards; each
test starts from empty tables, so tests never see each other's data.
"""

from __future__ import annotations

import io
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from seawall.api.app import create_app
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.db import Database, upgrade
from seawall.store.tables import Base

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated to the newest schema, dropped at the end."""
    if not _pg_reachable():
        raise RuntimeError("PostgreSQL is not reachable on 127.0.0.1:5432; start it (see .ci/run)")
    name = f"seawall_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    db = Database(url)
    try:
        with db.session() as s:
            tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "store_identity")
            s.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each backend; every store and API test runs on both."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        _truncate(url)
        return Settings(data_dir=tmp_path, database_url=url)
    return Settings(data_dir=tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = Engine(settings)
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(engine=engine, follow_writes=False)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """One API key per role."""
    return {role: engine.api_keys.create(role, f"test-{role}")[0] for role in ("admin", "submitter", "reviewer")}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_for_item(client: TestClient, key: str, item_id: str, timeout: float = 30) -> dict[str, object]:
    """Poll an item processed in the background until it leaves ``pending``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(f"/v1/items/{item_id}", headers=auth(key)).json()
        if body["status"] != "pending":
            return body
        time.sleep(0.05)
    raise AssertionError("item never left pending")


def textured_image(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A generated image with enough structure for a high PDQ quality."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = rng.integers(0, 256, size=(max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def encode(img: Image.Image, fmt: str = "JPEG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()
