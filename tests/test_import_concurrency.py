"""Imports running alongside other work.

On SQLite, a large bank import must not hold the write lock until it ends: uploads get in between.
One engine imports a few hundred thousand lines (as ``seawall bank import`` would) while another
(as the API server would) stores an upload. Before, the import was one transaction and the upload
waited for all of it; now the import commits in short batches and the upload finishes first.

On both databases, the same large list imported by several requests at once, on two servers, is
stored once and counted once.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import func, select

from seawall.api import offload
from seawall.api.app import create_app
from seawall.api.routes.banks import OFFLOAD_IMPORT_BYTES
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import BankEntryRow, BankRow
from tests.conftest import auth
from tests.live_server import all_at_once, serving
from tests.processes import running_server, seawall_env

LINES = 100_000


def lines(n: int) -> Iterator[str]:
    for _ in range(n):
        yield f"md5 {secrets.token_hex(16)}\n"


def _entries(engine: Engine) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(BankEntryRow)) or 0)


def test_upload_finishes_while_a_large_import_runs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    importer, server = build_engine(settings), build_engine(settings)
    finished: list[str] = []
    failures: list[BaseException] = []
    try:
        importer.banks.create("big")

        def run_import() -> None:
            try:
                report = importer.import_entries("big", "text", lines(LINES), added_by="test")
                assert report.added == LINES
            except BaseException as exc:  # reported in the main thread below
                failures.append(exc)
            finished.append("import")

        thread = threading.Thread(target=run_import)
        thread.start()
        deadline = time.monotonic() + 300
        while _entries(server) == 0 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the import's first batch is committed
        item = server.submit(server.content("text", text="an ordinary post"), content_id="during-import")
        finished.append("upload")
        thread.join(timeout=600)
        assert not failures, failures
        assert item.id and _entries(server) == LINES
        print(f"\norder of completion: {finished}")
        assert finished == ["upload", "import"], "the upload waited for the whole import"
    finally:
        importer.close()
        server.close()


def test_simultaneous_large_imports_of_one_list_store_each_line_once(settings: Settings, engine: Engine,
                                                                     tmp_path: Path) -> None:
    """The same hash list past ``OFFLOAD_IMPORT_BYTES`` sent at one moment to ``POST /v1/banks/{name}/import``
    of two servers on one store (this one and a ``seawall serve`` process), twice each: every import goes
    through an import worker process, every answer is 200, the counts add up (one import adds each line,
    the others find it there), each line is stored once, and both servers match the bank at once."""
    rnd = random.Random(11)
    values = [f"{rnd.getrandbits(256):064x}" for _ in range(OFFLOAD_IMPORT_BYTES // 60)]
    body = "".join(f"pdq {v}\n" for v in values).encode()
    assert len(body) >= OFFLOAD_IMPORT_BYTES
    admin = auth(engine.api_keys.create("admin", "importer")[0])
    engine.banks.create("bulk")
    extra = {"SEAWALL_DATABASE_URL": settings.database_url} if settings.database_url else {}
    with serving(create_app(engine=engine, follow_writes=False)) as here, \
            running_server(seawall_env(Path(settings.data_dir), **extra)) as there:
        urls = [here, there, here, there]
        turn = iter(range(len(urls)))
        lock = threading.Lock()

        def send(c: httpx.Client) -> httpx.Response:
            with lock:
                url = urls[next(turn)]
            return c.post(f"{url}/v1/banks/bulk/import?format=text", content=body, headers=admin)

        answers = all_at_once(len(urls), send)
        assert [r.status_code for r in answers] == [200] * len(urls), [r.text[:300] for r in answers]
        reports = [r.json() for r in answers]
        assert all(r["lines_read"] == len(values) and r["rejected"] == 0 for r in reports), reports
        assert sum(r["added"] for r in reports) == len(values), reports
        assert sum(r["duplicates"] for r in reports) == len(values) * (len(urls) - 1), reports
        assert offload.IMPORT in offload._pools  # this server's imports ran in its import worker process
        with engine.db.session() as s:
            stored = Counter(s.scalars(select(BankEntryRow.value).join(BankRow, BankRow.id == BankEntryRow.bank_id)
                                       .where(BankRow.name == "bulk")))
        assert stored == Counter(values)  # every line, each once
        for base in (here, there):
            for value in (values[0], values[-1]):
                found = httpx.get(f"{base}/v1/lookup?signal_type=pdq&value={value}", headers=admin, timeout=60)
                assert found.status_code == 200 and found.json()["matches"], (base, found.text)
