"""On SQLite, a large bank import must not hold the write lock until it ends: uploads get in between.

One engine imports a few hundred thousand lines (as ``seawall bank import`` would) while another
(as the API server would) stores an upload. Before, the import was one transaction and the upload
waited for all of it; now the import commits in short batches and the upload finishes first.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, select

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import BankEntryRow

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
