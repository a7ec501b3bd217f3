"""The stage-2 spool: uploads waiting for stage 2 keep their bytes as files of the node (SQLite without
JetStream), not as rows of the store; nothing is lost across a crash, nothing is left behind, and no
item id can name a path outside the spool directory."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import ItemRow, ItemUploadRow
from seawall.uploads.spool import ORPHAN_GRACE_SECONDS, SpoolFull, UploadSpool

from .test_ocr_language import _bank_text, slogan, text_image
from .test_upload_stages import _counts, _until


def _uploads_in_store(engine: Engine) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ItemUploadRow)) or 0)


def _spool(engine: Engine) -> UploadSpool:
    spool = engine.items.stage_two_spool
    assert spool is not None
    return spool


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


@pytest.fixture
def dead_queue(settings: Settings) -> Iterator[Engine]:
    """An engine spooling stage 2 to files whose queue stopped, as in a process that died: its uploads stay
    pending, with only the store and the spool to show for them."""
    engine = build_engine(settings.model_copy(update={"stage2_spool": "files"}))
    try:
        engine.start_workers()
        assert engine.queue is not None
        engine.queue.close()
        yield engine
    finally:
        engine.close()


def test_no_item_id_reaches_outside_the_spool(tmp_path: Path) -> None:
    spool = UploadSpool(tmp_path / "spool")
    outside = tmp_path / "secret"
    outside.write_bytes(b"not yours")
    for bad in ("../secret", "../../etc/passwd", "/etc/passwd", "a" * 31, "A" * 32, "0" * 32 + "/x", "", "."):
        with pytest.raises(ValueError):
            spool.path(bad)
        with pytest.raises(ValueError):
            spool.write(bad, b"x")
        assert spool.read(bad) is None
        spool.discard(bad)
    assert outside.read_bytes() == b"not yours"
    good = uuid.uuid4().hex
    spool.write(good, b"bytes")
    assert spool.path(good).parent == tmp_path / "spool" and spool.read(good) == b"bytes"
    assert spool.item_ids() == [good]
    spool.discard(good)
    assert spool.read(good) is None and spool.item_ids() == []


def test_synced_writes_read_back(tmp_path: Path) -> None:
    spool = UploadSpool(tmp_path / "spool", fsync=True)
    item_id = uuid.uuid4().hex
    spool.write(item_id, b"x" * 300_000)
    assert spool.read(item_id) == b"x" * 300_000
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [f"{item_id}.stage2"]  # no temporary left


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(dead_queue: Engine) -> None:
    """The temporary file is a link to /dev/full, which refuses every write with ENOSPC, as a full disk does."""
    engine = dead_queue
    spool = _spool(engine)
    item_id = uuid.uuid4().hex
    spool.directory.mkdir(parents=True, exist_ok=True)
    (spool.directory / f"{item_id}.stage2.part").symlink_to("/dev/full")
    with pytest.raises(SpoolFull) as refused:
        spool.write(item_id, b"upload")
    assert refused.value.status == 507 and refused.value.code == "storage_full"
    assert "full" in refused.value.message and str(spool.directory) in refused.value.message
    assert list(spool.directory.iterdir()) == []
    # through the upload path: refused before anything is stored (the wrapper only picks the item's link)
    item_ids_before = _item_count(engine)
    real_write = spool.write

    def to_full_disk(item_id: str, data: bytes) -> None:
        (spool.directory / f"{item_id}.stage2.part").symlink_to("/dev/full")
        real_write(item_id, data)

    spool.write = to_full_disk  # type: ignore[method-assign]
    with pytest.raises(SpoolFull):
        engine.submit(engine.content("image", data=text_image(slogan(60))), content_id="full-disk")
    assert _item_count(engine) == item_ids_before and list(spool.directory.iterdir()) == []


def _item_count(engine: Engine) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ItemRow)) or 0)


def test_the_spool_is_chosen_by_store(settings: Settings) -> None:
    """auto: files for SQLite (one node runs stage 2), the store for PostgreSQL (any node may run it)."""
    engine = build_engine(settings)
    try:
        if engine.db.dialect == "sqlite":
            assert engine.items.stage_two_spool is not None
            assert engine.items.stage_two_spool.directory.parent == settings.data_dir / "stage2-spool"
        else:
            assert engine.items.stage_two_spool is None
    finally:
        engine.close()
    engine = build_engine(settings.model_copy(update={"stage2_spool": "store"}))
    try:
        assert engine.items.stage_two_spool is None
    finally:
        engine.close()


def test_crash_during_stage_two_resumes_from_the_spool_once(settings: Settings, dead_queue: Engine) -> None:
    """Bytes in the spool, not the store; a process that dies with queued work redoes it once after restart,
    and the file is gone when stage 2 finished."""
    phrase = slogan(61)
    engine = dead_queue
    _bank_text(engine, "slogans", phrase)
    item = engine.submit(engine.content("image", data=text_image(phrase)), content_id="crash")
    assert item.pending == ["ocr", "regions"]
    spool = _spool(engine)
    assert spool.item_ids() == [item.id] and _uploads_in_store(engine) == 0
    assert spool.read(item.id) == text_image(phrase)
    engine.close()
    engine = build_engine(settings.model_copy(update={"stage2_spool": "files"}))
    try:
        engine.start_workers()  # the start-up sweep keeps the file of a pending item
        _until(lambda: engine.items.get(item.id).final)
        after = engine.items.get(item.id)
        assert after.verdict.verdict == "block" and _counts(engine, item.id) == (2, ["remove"])
        assert _spool(engine).item_ids() == []
        engine.items.process_stage_two(item.id)  # a redelivered job changes nothing
        assert _counts(engine, item.id) == (2, ["remove"])
    finally:
        engine.close()


def test_erased_and_finished_items_leave_no_file(dead_queue: Engine) -> None:
    engine = dead_queue
    spool = _spool(engine)
    erased = engine.submit(engine.content("image", data=text_image(slogan(62))), content_id="erased")
    kept = engine.submit(engine.content("image", data=text_image(slogan(63))), content_id="kept")
    assert sorted(spool.item_ids()) == sorted([erased.id, kept.id])
    # an erasure deletes the item, then its spooled bytes
    with engine.db.session() as s:
        s.execute(delete(ItemRow).where(ItemRow.id == erased.id))
    engine.items.discard_stage_two_upload(erased.id)
    assert spool.item_ids() == [kept.id]
    # whatever deleted an item without removing its file: the next start's sweep does
    lost = engine.submit(engine.content("image", data=text_image(slogan(64))), content_id="lost")
    with engine.db.session() as s:
        s.execute(delete(ItemRow).where(ItemRow.id == lost.id))
    young_orphan = uuid.uuid4().hex  # an upload still committing in another process: left alone
    spool.write(young_orphan, b"in flight")
    old_orphan = uuid.uuid4().hex  # a crash between the file and the commit: removed
    spool.write(old_orphan, b"never committed")
    _age(spool.path(old_orphan), ORPHAN_GRACE_SECONDS + 60)
    _age(spool.path(lost.id), ORPHAN_GRACE_SECONDS + 60)
    (spool.directory / "README").write_text("not a spool file")  # names it does not make are left
    # stage 2 finished but the process died before removing the file
    engine.items.finish_stage_two(kept.id, "test")
    spool.write(kept.id, b"left behind")
    assert engine.items.sweep_stage_two_spool() == 3
    assert sorted(spool.item_ids()) == [young_orphan]
    assert (spool.directory / "README").exists()
