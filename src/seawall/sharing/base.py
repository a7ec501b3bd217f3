"""Interface of a hash-list format: parse lines into candidate entries, write entries back out.

Parsers never touch the store and never validate hash values themselves: the importer normalises
each value with its signal type, so a new format is one small file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from seawall.models.records import BankEntry


@dataclass(slots=True)
class ParsedEntry:
    line_no: int
    signal_type: str
    value: str
    labels: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RejectedLine:
    line_no: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line_no, "reason": self.reason}


class HashListFormat(ABC):
    name: ClassVar[str]
    media_type: ClassVar[str] = "text/plain"
    file_suffix: ClassVar[str] = ".txt"
    #: Exports in this format leave out signal types marked ``seawall_only`` (a format other tools read,
    #: whose readers do not know, or compute differently, Seawall's own types).
    leaves_out_seawall_only: ClassVar[bool] = False

    @abstractmethod
    def parse(self, lines: Iterable[str]) -> Iterator[ParsedEntry | RejectedLine]:
        """Parse lines (without trailing newlines), numbering from 1 as a person counts them."""

    @abstractmethod
    def write(self, entries: Iterable[BankEntry]) -> Iterator[str]:
        """Lines (each ending in a newline) that ``parse`` reads back to the same entries."""
