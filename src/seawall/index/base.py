"""The small interface every signal index implements, so a new signal type brings its own index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Candidate:
    """An index hit before it is checked against the store and bank thresholds."""

    query_index: int
    entry_id: int
    distance: int
    #: What the distance alone cannot say (a video match's shares and time ranges); becomes a verdict reason.
    detail: str | None = None


class SignalIndex(Protocol):
    """Entries of one signal type, searchable by value (and, for perceptual types, by distance)."""

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        """Add (entry id, normalised value) pairs; ids already present are ignored."""

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        """Forget (entry id, value) pairs."""

    def search(self, values: Sequence[str], radius: int) -> list[Candidate]:
        """Hits for each query value (``query_index`` = position in ``values``) within ``radius``."""

    def __len__(self) -> int: ...

    def memory_bytes(self) -> int: ...


@runtime_checkable
class SnapshotIndex(SignalIndex, Protocol):
    """An index that can be saved to and loaded from a file, so a restart need not rebuild it."""

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> SnapshotIndex: ...
