"""Reading the next page of an exchange while the current one is written.

A sync alternates network and parsing (the exchange) with writing (the store). Run one after the
other, each waits on the other; run side by side, the publisher builds page k+1 (in its own process)
while page k is written here. The pull runs on its own thread, at most one page ahead, so memory stays
bounded by two pages. Pages still arrive, and are applied, strictly in order, and an exchange's
failure (a refused page, an outage) surfaces at the position it happened, after the pages before it.
The reader can ask whether the next page is already waiting (``ready``): a writer that groups pages
into one transaction commits when it would otherwise wait for the network.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar, cast

T = TypeVar("T")

_DONE: Any = object()
#: How often a blocked hand-over looks whether the reader stopped wanting pages.
_POLL = 0.2


class Ahead(Iterator[T]):
    """The pages in order; ``ready`` says whether the next one (or the end, or an error) is already here."""

    def __init__(self, handoff: queue.Queue[tuple[Any, BaseException | None]]) -> None:
        self._handoff = handoff
        self._ended = False

    def ready(self) -> bool:
        return self._ended or not self._handoff.empty()

    def __next__(self) -> T:
        if self._ended:
            raise StopIteration
        item, error = self._handoff.get()
        if error is not None:
            self._ended = True
            raise error
        if item is _DONE:
            self._ended = True
            raise StopIteration
        return cast(T, item)


@contextmanager
def read_ahead(pull: Callable[[], Iterator[T]], *, name: str = "seawall-pull") -> Iterator[Ahead[T]]:
    """Iterate ``pull()`` with its next item fetched in the background; leaving the block stops it."""
    handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def give(item: Any, error: BaseException | None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        pages = pull()
        try:
            for page in pages:
                if not give(page, None):
                    return
            give(_DONE, None)
        except BaseException as exc:  # handed to the reader, raised where the page would have been
            give(_DONE, exc)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    try:
        yield Ahead(handoff)
    finally:
        stop.set()
        with suppress(queue.Empty):  # unblock a hand-over in progress
            handoff.get_nowait()
        thread.join(timeout=_POLL * 2)
