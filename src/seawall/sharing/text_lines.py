"""The plain ``<signal_type> <signal>`` line format used by the open-source hash-sharing tools."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from seawall.models.records import BankEntry
from seawall.sharing.base import HashListFormat, ParsedEntry, RejectedLine


class TextLinesFormat(HashListFormat):
    name = "text"
    media_type = "text/plain"
    file_suffix = ".txt"

    def parse(self, lines: Iterable[str]) -> Iterator[ParsedEntry | RejectedLine]:
        for line_no, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                yield RejectedLine(line_no, "expected '<signal_type> <signal>' (two fields separated by a space)")
                continue
            yield ParsedEntry(line_no=line_no, signal_type=parts[0].lower(), value=parts[1])

    def write(self, entries: Iterable[BankEntry]) -> Iterator[str]:
        for e in entries:
            yield f"{e.signal_type} {e.value}\n"
