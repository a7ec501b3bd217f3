"""Stage 2 of an upload: the slow tasks that run on the work queue after the in-request verdict.

Stage 1 (inside the request) decides from what is cheap and exact: digests, PDQ with its rotations,
text signals over text the platform sent, links, bank rules. A verdict that a slow step could still
change is returned with ``final: false`` and the names of the tasks still to run (``pending``).

Stage 2 is this explicit list of tasks. Each one says whether it applies to an upload and, when run,
returns the extra signals it found; the item service matches those, decides the item again through
the same rules and acts once (see :meth:`seawall.uploads.ingest.ItemService.process_stage_two`). New slow work
(extra crop/region image hashes, classifiers) joins by adding a :class:`SlowTask` to
:data:`STAGE_TWO_TASKS` — nothing else in the request path needs to know about it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seawall.media.content import Content
from seawall.models.records import ComputedSignal, Item
from seawall.plugins import Registry

#: The queue stage that runs an item's stage-2 tasks.
STAGE_TWO = "stage2"


@dataclass(frozen=True, slots=True)
class SlowTask:
    """One unit of stage-2 work; ``run`` gets the registry, the content and the signals stage 1 computed."""

    name: str
    applies: Callable[[Content], bool]
    run: Callable[[Registry, Content, Sequence[ComputedSignal]], list[ComputedSignal]]


def _ocr_applies(content: Content) -> bool:
    """Images, when OCR is switched on and Tesseract is installed (otherwise stage 1 notes why it was skipped)."""
    if content.content_type != "image":
        return False
    from seawall.media.ocr import OcrOptions, ocr_available

    options = content.ocr if content.ocr is not None else OcrOptions.from_settings()
    return options.enabled is not False and ocr_available()


def image_text_signals(registry: Registry, content: Content, earlier: Sequence[ComputedSignal]) -> list[ComputedSignal]:
    """Text in an image (OCR) and the text and link signals over it.

    This is where image OCR runs. Signal types that already gave a value in stage 1 (PDQ, digests) are
    not recomputed: only those that read text can gain something from it.
    """
    content.defer_slow = False
    if not content.ocr_text():
        return []
    had = {s.type for s in earlier}
    out: list[ComputedSignal] = []
    for sig in registry.signal_types.values():
        if sig.name not in had and not sig.deferred and sig.applies_to(content.content_type):
            out.extend(sig.compute(content, for_query=True))
    return out


def regions_apply(content: Content) -> bool:
    """Every image query: a re-shared copy may be cropped, padded, turned or screenshotted."""
    return content.content_type == "image"


def image_region_signals(registry: Registry, content: Content,
                         earlier: Sequence[ComputedSignal]) -> list[ComputedSignal]:
    """Region hashes of an image (borders trimmed, screenshot rectangles, small rotations, bands painted
    over), looked up as extra PDQ query forms, and the ORB query that verifies their near misses. About
    18x the cost of plain PDQ before ORB, hence stage 2. Taken as computed when a stage-2 worker process
    already did (``content.region_signals``)."""
    if content.region_signals is not None:
        return [s for s in content.region_signals if s.type in registry.signal_types]
    return compute_region_signals(content, frozenset(registry.signal_types))


def compute_region_signals(content: Content, signal_types: frozenset[str]) -> list[ComputedSignal]:
    """:func:`image_region_signals` from the registered signal type names alone (a worker process has no registry)."""
    if "pdq" not in signal_types:
        return []
    from seawall.signals.pdq_regions import region_signals

    out = [s for s in region_signals(content) if s.type in signal_types]
    if "orb" in signal_types:
        # near misses of those forms are verified with local features (seawall.signals.orb), here only
        from seawall.signals.orb import orb_query_signal

        forms = [v for s in region_signals_forms(out) for v in s]
        query = orb_query_signal(content, forms)
        if query is not None:
            out.append(query)
    return out


def region_signals_forms(signals: Sequence[ComputedSignal]) -> list[list[str]]:
    """PDQ values of the region signals (whole upload first), for choosing near misses to verify."""
    return [[s.value, *s.variants] for s in sorted(signals, key=lambda s: s.type != "pdq_crop")
            if s.type in ("pdq", "pdq_crop")]


#: Every stage-2 task, in the order they run; extend this list to add slow work to uploads.
STAGE_TWO_TASKS: list[SlowTask] = [
    SlowTask("ocr", _ocr_applies, image_text_signals),
    SlowTask("regions", regions_apply, image_region_signals),
]


def tasks_for(content: Content, tasks: Sequence[SlowTask] | None = None) -> list[SlowTask]:
    """The stage-2 tasks that apply to an upload."""
    return [t for t in (STAGE_TWO_TASKS if tasks is None else tasks) if t.applies(content)]


def by_names(names: Sequence[str], tasks: Sequence[SlowTask] | None = None) -> list[SlowTask]:
    """The tasks an item recorded as pending, by name (an unknown name, from a newer release, is skipped)."""
    known = {t.name: t for t in (STAGE_TWO_TASKS if tasks is None else tasks)}
    return [known[n] for n in names if n in known]


class StageTwoWaiters:
    """Requests waiting for an item's stage 2 (``wait`` on upload): woken when this process finishes it.

    Stage 2 run by this process wakes the waiter at once; a worker elsewhere (JetStream) is noticed
    by reading the item every 50 ms.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, threading.Event] = {}

    def finished(self, item_id: str) -> None:
        with self._lock:
            waiter = self._waiters.get(item_id)
        if waiter is not None:
            waiter.set()

    def wait(self, item: Item, timeout: float, load: Callable[[str], Item]) -> Item:
        """The item once its stage 2 finished, or as it stands after ``timeout`` seconds."""
        if item.final or timeout <= 0:
            return item
        event = threading.Event()
        with self._lock:
            event = self._waiters.setdefault(item.id, event)
        deadline = time.monotonic() + timeout
        try:
            while True:
                current = load(item.id)
                left = deadline - time.monotonic()
                if current.final or left <= 0:
                    return current
                event.wait(min(left, 0.05))
        finally:
            with self._lock:
                self._waiters.pop(item.id, None)
