"""Shared fixtures: an engine and API client on SQLite and on a real PostgreSQL database.

The PostgreSQL database is created for the test run on 127.0.0.1:5432 and dropped afterwards; each
test starts from empty tables, so tests never see each other's data.

Migrations run once per test run, not once per test: SQLite tests copy a migrated template file (with
a fresh store id), and each PostgreSQL database (one per pytest-xdist worker) is created from a
migrated template database (``CREATE DATABASE … TEMPLATE``) made by the controlling process.

Heavy tests carry a marker (``e2e``: a browser or a chat server; ``slow``: several processes or long
media work) so ``make test-fast`` can leave them out; ``make test`` runs everything.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from _pytest.mark.expression import Expression
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from PIL import Image
from sqlalchemy import text

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.password_hashing import PROFILE_ENV
from seawall.store.db import Database, upgrade
from seawall.store.tables import Base
from tests import shared_sql_cache

#: Every SQLite engine of this process compiles a statement once, not once per engine (tests/shared_sql_cache.py).
shared_sql_cache.install()

#: argon2 at its minimum cost for every store, CLI and server the tests start (they inherit the
#: environment); tests/test_password_hashing.py checks that Seawall itself defaults to the strong profile.
os.environ.setdefault(PROFILE_ENV, "cheapest")
# Engines built in the test process leave gc.freeze out: a test process starts hundreds of them, and each
# freeze would keep the garbage of the tests before it; servers the tests start (seawall_env) freeze as shipped.
os.environ.setdefault("SEAWALL_GC_FREEZE", "false")
# Nor do they warm up in the background (OCR, language model, kernels: ~0.5 CPU-s per app start); the warm-up
# itself is tested by calling it (test_warm_start.py) and by the servers the tests start, which warm up as shipped.
os.environ.setdefault("SEAWALL_WARM_UP", "false")

#: Hypothesis example counts: ``full`` (the default, what ``make test`` runs) and ``fast`` (what
#: ``make test-fast`` selects with ``HYPOTHESIS_PROFILE=fast``): the same properties, a fifth of the
#: examples, so the quick loop still meets every fuzzed parser without paying for the whole search.
HYPOTHESIS_PROFILE_ENV = "HYPOTHESIS_PROFILE"
hypothesis_settings.register_profile("full", max_examples=100)
hypothesis_settings.register_profile("fast", max_examples=20)
hypothesis_settings.load_profile(os.environ.get(HYPOTHESIS_PROFILE_ENV, "full"))

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
#: Set by the controlling process to the migrated PostgreSQL template every worker copies.
PG_TEMPLATE_ENV = "SEAWALL_TEST_PG_TEMPLATE"

#: Modules whose every test is heavy, by marker. ``e2e``: drives a real browser or chat server;
#: ``slow``: starts several Seawall processes (two federating servers, a server followed by CLI
#: processes) or a ``seawall serve`` process, a private broker or database, fuzzes the whole API, or
#: decodes video. Single tests carry ``@pytest.mark.slow`` where the rest of their module is light.
HEAVY_MODULES: dict[str, str] = {
    "test_console_e2e": "e2e",
    "test_console_banks_e2e": "e2e",
    "test_synapse_connector": "e2e",
    "test_synapse_shim": "e2e",
    "test_scaleout": "slow",
    "test_queue_outage": "slow",
    "test_vpdq": "slow",
    "test_background_items": "slow",
    "test_snapshot_background": "slow",
    "test_ocr_language": "slow",
    "test_legal_e2e": "e2e",
    "test_server": "slow",
    "test_federation": "slow",
    "test_fuzz_api": "slow",
    # a `seawall serve` process beside the test (and, for imports, lists of 100,000 lines)
    "test_import_concurrency": "slow",
    "test_security_headers": "slow",
    "test_slow_clients": "slow",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = HEAVY_MODULES.get(item.module.__name__.rpartition(".")[2]) if item.module else None
        if marker:
            item.add_marker(getattr(pytest.mark, marker))


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """The controlling process (or a plain run) migrates one PostgreSQL template for everyone."""
    if (not _is_controller(config) or os.environ.get(PG_TEMPLATE_ENV) or _deselects_postgres(config)
            or not _pg_reachable()):
        return
    name = f"seawall_tmpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    os.environ[PG_TEMPLATE_ENV] = name  # inherited by xdist workers, started after this hook
    config._seawall_pg_template = name  # type: ignore[attr-defined]


def _deselects_postgres(config: pytest.Config) -> bool:
    """Whether ``-m`` leaves out every ``postgres`` test (``make test-fast``): then no template is made.

    Migrating the template costs the controlling process seconds before any test starts; a test that
    still asks for ``pg_url`` without the marker migrates its own database, as it did before templates.
    """
    markexpr = config.getoption("markexpr", "") or ""
    if not markexpr:
        return False
    expression = Expression.compile(markexpr)
    return not any(expression.evaluate(lambda name, _others=others, **_: name == "postgres" or _others)
                   for others in (False, True))


def pytest_unconfigure(config: pytest.Config) -> None:
    name = getattr(config, "_seawall_pg_template", None)
    if name:
        os.environ.pop(PG_TEMPLATE_ENV, None)
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
    template = os.environ.get(PG_TEMPLATE_ENV)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    if template:
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
            conn.execute("UPDATE store_identity SET store_id = %s WHERE id = 1", (uuid.uuid4().hex,))
    upgrade(url)  # at head already when copied: a version check
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


_template: dict[str, Path] = {}


def process_sqlite_template() -> Path:
    """This process's migrated SQLite store, made on first use and removed when the process ends.

    Helpers that build engines outside a fixture (two sharing peers, a store made mid-test) copy it
    with :func:`fresh_sqlite_store` instead of running every migration again.
    """
    if "path" not in _template:
        folder = Path(tempfile.mkdtemp(prefix="seawall-sqlite-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        upgrade(f"sqlite:///{folder / 'seawall.db'}")
        _template["path"] = folder / "seawall.db"
    return _template["path"]


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    """A SQLite store migrated once for this process; tests copy it instead of migrating again."""
    return process_sqlite_template()


def copy_sqlite_template(template: Path, data_dir: Path) -> None:
    """Put a migrated store where ``Settings(data_dir=…)`` looks for it, with its own store id."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "seawall.db"
    shutil.copyfile(template, target)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE store_identity SET store_id = ? WHERE id = 1", (uuid.uuid4().hex,))
    conn.close()


def fresh_sqlite_store(data_dir: Path) -> Path:
    """``data_dir`` holding a migrated, empty store of its own (unless it has one already); returns it."""
    if not (data_dir / "seawall.db").exists():
        copy_sqlite_template(process_sqlite_template(), data_dir)
    return data_dir


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each backend; every store and API test runs on both."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        _truncate(url)
        return Settings(data_dir=tmp_path, database_url=url)
    copy_sqlite_template(request.getfixturevalue("sqlite_template"), tmp_path)
    return Settings(data_dir=tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = build_engine(settings)
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


@pytest.fixture
def banked(client: TestClient, keys: dict[str, str]) -> np.ndarray:
    """A generated photo-like picture banked as a file in bank ``tvec``, with every image signal Seawall banks
    for it (PDQ, its banked crops, ORB points): the original the robust-matching tests transform."""
    from .robust_media import photo_like

    admin = auth(keys["admin"])
    assert client.post("/v1/banks", json={"name": "tvec"}, headers=admin).status_code == 201
    picture = photo_like(41, 420, 560)
    r = client.post("/v1/banks/tvec/entries", headers=admin,
                    files={"file": ("p.png", encode(Image.fromarray(picture, "RGB"), "PNG"), "image/png")})
    assert r.status_code == 201, r.text
    assert {"pdq", "pdq_crop", "orb"} <= {e["signal_type"] for e in r.json()["entries"]}
    return picture
