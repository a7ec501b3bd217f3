"""A person's decision about an item made while automation runs: the transaction holds the item first.

Why: stage 2 and retro-matching must not act over a reviewer who is deciding at the same moment. A test
opens the reviewer's transaction, holds the item's row (on SQLite the write lock), lets automation run into
it, then commits a decision (``POST /v1/items/{id}/actions``' path) while automation still waits, and
checks that automation read that decision. Used by the stage-2 and retro-matching tests alike.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from seawall.engine import Engine
from seawall.store.tables import ItemRow
from seawall.store.write_lock import get_locked

#: How long the reviewer's transaction stays open once it holds the item: ample for automation to reach it.
HOLD_S = 1.5


class HeldDecision:
    """:meth:`start` opens the reviewer's transaction and returns once it holds the item; :meth:`finish`, called
    when automation is done, waits for the decision and tells whether it committed while automation waited."""

    def __init__(self, engine: Engine, item_id: str, actions: list[Any], *, decided_by: str = "key:desk") -> None:
        self.engine = engine
        self.item_id = item_id
        self.actions = actions
        self.decided_by = decided_by
        self._held = threading.Event()
        self._automation_done = threading.Event()
        self._waited: list[bool] = []
        self._failures: list[BaseException] = []
        self._thread = threading.Thread(target=self._decide, name="reviewer")

    def _decide(self) -> None:
        eng = self.engine
        try:
            with eng.db.session() as s:
                get_locked(s, ItemRow, self.item_id)
                self._held.set()
                time.sleep(HOLD_S)
                eng.actions.decide_later(s, eng.items.get(self.item_id), eng.actions.parse(self.actions),
                                         decided_by=self.decided_by, note="")
                self._waited.append(not self._automation_done.is_set())
        except BaseException as exc:  # reported by finish()
            self._failures.append(exc)
            self._held.set()

    def start(self) -> None:
        self._thread.start()
        assert self._held.wait(30), "the reviewer's transaction did not take the item"

    def finish(self) -> bool:
        """Whether automation was still waiting when the decision committed (it must have been)."""
        self._automation_done.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive() and not self._failures, self._failures
        return self._waited == [True]
