"""``example-local-file``: an exchange that reads shared hashes from a local file, page by page.

Each line is ``<signal_type> <value>``; a checkpoint is the number of lines already read, so a pull
resumes exactly after the last page applied (the file is append-only, like a partner's feed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SharedEntry:
    signal_type: str
    value: str


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[SharedEntry] = field(default_factory=list)
    #: Lines read so far: pass it back to resume after this page.
    checkpoint: int = 0


class LocalFileExchange:
    """Shared hashes from a local, append-only file (example plugin)."""

    name = "example-local-file"
    description = "Reads '<signal_type> <value>' lines from a local file (example plugin)."

    def __init__(self, path: Path, page_size: int = 100) -> None:
        self.path = path
        self.page_size = page_size

    def pull(self, checkpoint: int | None) -> Iterator[Page]:
        """Pages of entries after ``checkpoint`` (None: from the start); nothing if the file is absent."""
        start = int(checkpoint or 0)
        if not self.path.exists():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for begin in range(start, len(lines), self.page_size):
            chunk = lines[begin:begin + self.page_size]
            entries = [SharedEntry(*line.split()[:2]) for line in chunk
                       if line.strip() and not line.startswith("#") and len(line.split()) >= 2]
            yield Page(entries, begin + len(chunk))
