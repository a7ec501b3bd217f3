"""Warm start: do once at start-up what the first upload would otherwise pay for.

A fresh server process has cold caches everywhere on the upload path: the language model is still
compressed on disk (about 1.6 s to load), the first Tesseract run checks its version and language data
and reads its model files (0.2–0.6 s), numba loads its compiled match kernels from the cache, and the
image decoders, PDQ hasher and rules are not yet imported. Smaller first-use costs add up to many
times a text item's one or two milliseconds: opening the store's pooled connections, compiling the
API-key lookup and the item, decision and kept-content INSERTs, the decider's and the act stage's
first run. Running one generated image and one text through the same code, up to a write that is
rolled back (:meth:`seawall.uploads.ingest.ItemService.rehearse`), and one key lookup for a key that
does not exist, and a snapshot of the API keys (:meth:`seawall.apikeys.ApiKeys.load_snapshot`, so a key's
first request is checked in memory) make the first real upload as fast as the hundredth without storing
anything. The stage-2 queue's threads and worker processes are started too, each worker process running
one image's OCR, so the first image uploads do not share the cores with a fresh interpreter importing
Seawall and Tesseract reading its models. The server reports ``ready`` (``/readyz``, ``/healthz``) once it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from seawall.engine import Engine

log = logging.getLogger(__name__)

#: Connections the warm-up opens at once and hands back to the pool.
POOLED_CONNECTIONS = 4
#: A well-formed API key that cannot exist (key ids are hexadecimal): looking it up compiles the statement.
UNKNOWN_KEY = "sw_warmup_" + "x" * 43


def _sample_image() -> bytes:
    """A generated picture with a line of text: enough structure for PDQ and for Tesseract to read."""
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((512, 384), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 300, 492, 360), fill="white")
    draw.text((30, 315), "seawall warm up", fill="black")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _writes_nothing(_: Session) -> int:
    return 0


def _photo_sized_image() -> bytes:
    """A 1024×1024 JPEG of smooth noise: the size of a typical upload after the decoder's draft scaling."""
    rng = np.random.default_rng(11)
    small = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).resize((1024, 1024), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def warm_up(engine: Engine) -> dict[str, float]:
    """Load models and kernels and run one image and one text through stage 1; seconds per step.

    Never raises: a step that fails is logged, and the server still becomes ready (the upload that
    needs the step pays for it, as before).
    """
    from seawall.media import ocr
    from seawall.media.language import warm_up as load_language_model
    from seawall.uploads.ingest import compute_signals
    from seawall.uploads.stages import tasks_for

    timings: dict[str, float] = {}

    def step(name: str, fn: object) -> None:
        t0 = time.perf_counter()
        try:
            fn()  # type: ignore[operator]
        except Exception:
            log.exception("warm-up step %s failed", name)
        timings[name] = round(time.perf_counter() - t0, 3)

    data = _sample_image()

    def stage_one() -> None:
        for content in (engine.content("image", data=data),
                        engine.content("text", text="Warm-up text of a few words, with a link https://example.org/a")):
            content.defer_slow = True
            engine.matcher.match(compute_signals(engine.registry, content, for_query=True))
        engine.rules.current()

    def kernels() -> None:
        # the match kernels of every distance index, on tiny private indexes (the same compiled code)
        text = "Warm-up text of a few words for the similarity kernels, long enough to be hashed at all."
        for content in (engine.content("image", data=data), engine.content("text", text=text * 3)):
            content.defer_slow = True
            for sig in engine.registry.signal_types.values():
                if not sig.uses_distance or sig.deferred or not sig.applies_to(content.content_type):
                    continue
                values = sig.compute(content, for_query=False)
                if values:
                    index = sig.create_index()
                    index.add([(1, values[0].value)])
                    index.search([values[0].value], engine.matcher.radius(sig.name))

    def read_text() -> None:
        content = engine.content("image", data=data)
        if tasks_for(content):  # OCR is on and Tesseract installed: its version, languages and models
            ocr.read_text(content.pixels(), content.ocr or ocr.OcrOptions.from_settings(engine.settings))

    def store() -> None:
        # a write that changes nothing: the first commit of a process (SQLite: its WAL pages) costs ~20 ms
        from sqlalchemy import update

        from seawall.store.tables import StoreIdentityRow

        with engine.db.session() as s:
            s.execute(update(StoreIdentityRow).where(StoreIdentityRow.id == 1)
                      .values(store_id=StoreIdentityRow.store_id))

    def connections() -> None:
        # the pool's connections opened now (PostgreSQL: a handshake each; SQLite: its pragmas), as many
        # as a request, the group commit and the background refresh hold at once, and each one's schema
        # read: a connection parses the store's schema on its first statement, which otherwise happened
        # inside the first real upload's commit (benchmarks/profile_first_text.py times that commit)
        from sqlalchemy import false, select

        from seawall.store.tables import ItemRow

        pool = engine.db.engine.pool
        size = pool.size() if hasattr(pool, "size") else 1
        held = []
        try:
            for _ in range(min(POOLED_CONNECTIONS, max(1, size))):
                held.append(engine.db.engine.connect())
                held[-1].execute(select(ItemRow.id).where(false())).close()
                held[-1].rollback()
        finally:
            for conn in held:
                conn.close()

    def api_key() -> None:
        # the key lookup's statement compiled, for keys the snapshot does not hold (see api_keys below): a
        # well-formed key whose id cannot exist (ids are hex)
        from seawall.errors import Unauthorized

        with contextlib.suppress(Unauthorized):
            engine.api_keys.authenticate(UNKNOWN_KEY)

    def rehearse() -> None:
        # decide, act and write as an upload does, rolled back: statements compiled, nothing stored; the
        # photo-sized picture sizes the decoder's and hasher's buffers as a camera upload does
        for content in (engine.content("text", text="Warm-up notice about the weekend market and ferry times"),
                        engine.content("image", data=_photo_sized_image())):
            engine.items.rehearse(content)
            engine.matcher.match_in_memory(compute_signals(engine.registry, content, for_query=True))

    def background() -> None:
        # the stage-2 queue's threads and worker processes started, and one image's OCR and region hashes
        # run in each worker process (imports, Tesseract's models): otherwise the first image uploads'
        # stage 2 starts them while the next uploads are being decided
        from seawall.queue.inprocess import InProcessQueue

        if isinstance(engine.queue, InProcessQueue):
            engine.queue.start_threads()
        slow = engine.items.slow_processes
        if slow is not None:
            content = engine.content("image", data=data)
            slow.warm(content, [t.name for t in tasks_for(content)], frozenset(engine.registry.signal_types))

    def committer() -> None:
        # the group commit's committer thread, which leads the writes of uploads decided on the event loop,
        # started now (it ends after half a minute without work); its transaction writes nothing
        asyncio.run(engine.items.writes.run_async(_writes_nothing))

    step("store", store)
    step("connections", connections)
    step("api_key", api_key)
    step("language_model", load_language_model)
    step("stage_one", stage_one)
    step("match_kernels", kernels)
    step("ocr", read_text)
    step("background", background)
    # last, so what it leaves running (threads that end when idle) is fresh when the server says ready
    step("rehearse", rehearse)
    step("committer", committer)
    # the newest keys read just before ready, so a key's first request is checked in memory (the background
    # refresh keeps the snapshot fresh from here on: seawall.apikeys)
    step("api_keys", engine.api_keys.load_snapshot)
    log.info("warm-up done in %.2f s: %s", sum(timings.values()), timings)
    return timings
