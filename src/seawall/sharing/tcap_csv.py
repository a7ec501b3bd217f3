"""CSV with TCAP-style columns: hash, algorithm, group, file_type, source_deleted, first_seen.

``group`` becomes an ``ideology:`` label when it names a taxonomy ideology and a ``group:`` label
otherwise; file type and deletion status are kept as entry metadata so an export gives them back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from seawall.models.labels import taxonomy
from seawall.models.records import BankEntry
from seawall.sharing.base import HashListFormat, ParsedEntry, RejectedLine

COLUMNS = ("hash", "algorithm", "group", "file_type", "source_deleted", "first_seen")
_ALGORITHM_ALIASES = {"sha-256": "sha256", "sha_256": "sha256", "md-5": "md5", "pdqhash": "pdq"}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-")[:64]


def _parse_date(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class TcapCsvFormat(HashListFormat):
    name = "tcap-csv"
    media_type = "text/csv"
    file_suffix = ".csv"

    def parse(self, lines: Iterable[str]) -> Iterator[ParsedEntry | RejectedLine]:
        reader = csv.reader(lines)
        header: list[str] | None = None
        ideologies = taxonomy()["ideology"]
        for row in reader:
            line_no = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                missing = [c for c in ("hash", "algorithm") if c not in header]
                if missing:
                    yield RejectedLine(line_no, f"header lacks required column(s): {', '.join(missing)}")
                    return
                continue
            rec = dict(zip(header, (c.strip() for c in row), strict=False))
            algorithm = rec.get("algorithm", "").lower()
            algorithm = _ALGORITHM_ALIASES.get(algorithm, algorithm)
            labels: list[str] = []
            group = rec.get("group", "")
            if group:
                slug = _slug(group)
                labels.append(f"ideology:{slug}" if slug in ideologies else f"group:{slug}")
            try:
                first_seen = _parse_date(rec.get("first_seen", ""))
            except ValueError:
                yield RejectedLine(line_no, f"first_seen {rec.get('first_seen')!r} is not an ISO 8601 date")
                continue
            deleted = rec.get("source_deleted", "").lower()
            if deleted not in _TRUE | _FALSE:
                yield RejectedLine(line_no, f"source_deleted {deleted!r} is not true/false")
                continue
            meta: dict[str, object] = {}
            if rec.get("file_type"):
                meta["file_type"] = rec["file_type"]
            if deleted:
                meta["source_deleted"] = deleted in _TRUE
            yield ParsedEntry(
                line_no=line_no,
                signal_type=algorithm,
                value=rec.get("hash", ""),
                labels=labels,
                first_seen=first_seen,
                meta=meta,
            )

    def write(self, entries: Iterable[BankEntry]) -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        yield buf.getvalue()
        for e in entries:
            buf.seek(0)
            buf.truncate()
            group = next((lab.split(":", 1)[1] for lab in e.labels if lab.startswith(("group:", "ideology:"))), "")
            meta = e.meta or {}
            deleted = meta.get("source_deleted")
            w.writerow([
                e.value,
                e.signal_type,
                group,
                meta.get("file_type", ""),
                "" if deleted is None else ("true" if deleted else "false"),
                e.first_seen.isoformat() if e.first_seen else "",
            ])
            yield buf.getvalue()
