"""Exact-value index for digests: value → entry ids."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from seawall.index.base import Candidate


class ExactIndex:
    """Dictionary from a normalised value to the ids of every entry (in any bank) holding it."""

    def __init__(self) -> None:
        self._by_value: dict[str, int | list[int]] = {}
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        for entry_id, value in rows:
            self.add_one(entry_id, value)

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        for entry_id, value in rows:
            self.remove_one(entry_id, value)

    def search(self, values: Sequence[str], radius: int = 0) -> list[Candidate]:
        return [Candidate(qi, eid, 0) for qi, v in enumerate(values) for eid in self.get(v)]

    def add_one(self, entry_id: int, value: str) -> None:
        with self._lock:
            cur = self._by_value.get(value)
            if cur is None:
                self._by_value[value] = entry_id
            elif isinstance(cur, int):
                if cur == entry_id:
                    return
                self._by_value[value] = [cur, entry_id]
            else:
                if entry_id in cur:
                    return
                cur.append(entry_id)
            self._count += 1

    def remove_one(self, entry_id: int, value: str) -> None:
        with self._lock:
            cur = self._by_value.get(value)
            if cur is None:
                return
            if isinstance(cur, int):
                if cur == entry_id:
                    del self._by_value[value]
                    self._count -= 1
                return
            if entry_id in cur:
                cur.remove(entry_id)
                self._count -= 1
                if len(cur) == 1:
                    self._by_value[value] = cur[0]

    def get(self, value: str) -> list[int]:
        cur = self._by_value.get(value)
        if cur is None:
            return []
        return [cur] if isinstance(cur, int) else list(cur)

    def get_many(self, values: Iterable[str]) -> dict[str, list[int]]:
        return {v: ids for v in values if (ids := self.get(v))}

    def memory_bytes(self) -> int:
        # dict slot + key string + int object, a rough figure for /metrics
        return self._count * 150
