"""python-threatexchange's plain signal file: ``<signal_type> <signal>``, the signal being the rest of the line.

pytx's local-file exchange reads one signal per line and splits it at the first space only, so a signal may
contain spaces (a trend query's JSON, a phrase). Seawall's own ``text`` format needs exactly two fields, so
lists written by pytx are read with this format instead.

Names differ in two places, translated both ways: pytx's ``tlsh`` is TLSH of the raw text, which is
Seawall's ``text_tlsh`` (Seawall's ``tlsh`` hashes the normalised text); pytx's ``video_md5`` is an MD5 of
the file, Seawall's ``md5``. On export, signal types marked ``seawall_only`` (``pdq_crop``,
``text_fingerprint``, Seawall's normalised-text hashes…) are left out: pytx would not read them, or would
compute them differently (see :func:`seawall.sharing.importer.export_lines`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from seawall.models.records import BankEntry
from seawall.sharing.base import HashListFormat, ParsedEntry, RejectedLine

#: pytx name → Seawall name, where they differ.
FROM_PYTX = {"tlsh": "text_tlsh", "video_md5": "md5"}
#: Seawall name → pytx name, where they differ.
TO_PYTX = {"text_tlsh": "tlsh"}


class PytxLinesFormat(HashListFormat):
    name = "pytx"
    media_type = "text/plain"
    file_suffix = ".txt"
    leaves_out_seawall_only = True

    def parse(self, lines: Iterable[str]) -> Iterator[ParsedEntry | RejectedLine]:
        for line_no, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            signal_type, _, signal = line.partition(" ")
            signal = signal.strip()
            if not signal:
                yield RejectedLine(line_no, "expected '<signal_type> <signal>' (the type, a space, then the signal)")
                continue
            kind = signal_type.lower()
            yield ParsedEntry(line_no=line_no, signal_type=FROM_PYTX.get(kind, kind), value=signal)

    def write(self, entries: Iterable[BankEntry]) -> Iterator[str]:
        for e in entries:
            yield f"{TO_PYTX.get(e.signal_type, e.signal_type)} {e.value}\n"
