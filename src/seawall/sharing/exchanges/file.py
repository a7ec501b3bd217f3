"""File and URL feeds: a pytx text list, TCAP-style CSV or vPDQ file, from a local path or http(s) URL.

The list is streamed and applied in pages, so a file of millions of hashes needs constant memory and
a crash resumes at the last page applied (the checkpoint names the file's version and the line
reached). A URL is fetched with a conditional GET (ETag / Last-Modified) through the same SSRF checks
as webhooks: an unchanged list costs one 304.

A list is a full snapshot, so a hash it no longer lists is withdrawn: the checkpoint remembers when
the pass over a version began (a resumed pass keeps that moment), and the last page says so; the
source's entries not seen since then lose this source's provenance, and go when no one else keeps them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from seawall.errors import InvalidInput, SeawallError
from seawall.plugins import registry
from seawall.sharing.base import ParsedEntry, RejectedLine
from seawall.sharing.exchanges.base import (
    Exchange,
    ExchangeContext,
    Page,
    Rejected,
    RemoteEntry,
    checked_stream,
    require_str,
)
from seawall.store.tables import utcnow

PAGE_SIZE = 5000


def _state(checkpoint: str | None) -> dict[str, Any]:
    if not checkpoint:
        return {}
    try:
        value = json.loads(checkpoint)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class FileFeedExchange(Exchange):
    name = "file"
    description = "A pytx text list, TCAP-style CSV or vPDQ file from a local path or http(s) URL."

    def configure(self, config: dict[str, Any], context: ExchangeContext) -> dict[str, Any]:
        path = config.get("path")
        url = config.get("url")
        if bool(path) == bool(url):
            raise InvalidInput("give either path (a local file) or url (http or https)", code="invalid_source_config")
        fmt = str(config.get("format") or "text")
        formats = (context.registry or registry()).hashlist_formats
        if fmt not in formats:
            raise InvalidInput(f"format: one of {', '.join(sorted(formats))}", code="unknown_format")
        if url:
            context.policy.parse(require_str(config, "url"))
            self.config = {"url": str(url).strip(), "format": fmt}
        else:
            p = Path(require_str(config, "path")).expanduser()
            if not p.is_absolute():
                raise InvalidInput("path: an absolute path", code="invalid_source_config")
            self.config = {"path": str(p), "format": fmt}
        self.context = context
        return dict(self.config)

    def pull(self, checkpoint: str | None, *, wait: float = 0.0) -> Iterator[Page]:
        state = _state(checkpoint)
        if "path" in self.config:
            yield from self._pull_path(Path(self.config["path"]), state)
        else:
            yield from self._pull_url(self.config["url"], state)

    def _pull_path(self, path: Path, state: dict[str, Any]) -> Iterator[Page]:
        try:
            st = path.stat()
        except OSError as exc:
            raise SeawallError(f"{path}: {exc.strerror or exc}", code="source_file_missing") from None
        version = f"{st.st_size}-{st.st_mtime_ns}"
        if state.get("version") == version and state.get("done"):
            return
        skip = int(state.get("line", 0)) if state.get("version") == version else 0
        with path.open("rb") as fh:
            lines = (raw.decode("utf-8", errors="replace").rstrip("\r\n").lstrip("\ufeff") for raw in fh)
            yield from self._pages(lines, {"version": version, **_started(state, skip)}, skip)

    def _pull_url(self, url: str, state: dict[str, Any]) -> Iterator[Page]:
        assert self.context is not None
        headers: dict[str, str] = {}
        if state.get("done"):
            if state.get("etag"):
                headers["if-none-match"] = state["etag"]
            if state.get("modified"):
                headers["if-modified-since"] = state["modified"]
        with checked_stream(self.context, url, headers=headers) as response:
            if response.status_code == 304:
                return
            if response.status_code != 200:
                raise SeawallError(f"{url} answered HTTP {response.status_code}", code="source_fetch_failed")
            etag = response.headers.get("etag", "")
            modified = response.headers.get("last-modified", "")
            version = hashlib.sha256(f"{etag}|{modified}".encode()).hexdigest()[:16] if (etag or modified) else ""
            skip = int(state.get("line", 0)) if version and state.get("version") == version else 0
            lines = (line.lstrip("\ufeff") for line in response.iter_lines())
            yield from self._pages(lines, {"version": version, "etag": etag, "modified": modified,
                                           **_started(state, skip)}, skip)

    def _pages(self, lines: Iterable[str], base: dict[str, Any], skip: int) -> Iterator[Page]:
        assert self.context is not None
        fmt = (self.context.registry or registry()).hashlist_format(self.config["format"])
        entries: list[RemoteEntry] = []
        rejected: list[Rejected] = []
        line_no = 0
        for parsed in fmt.parse(lines):
            line_no = parsed.line_no
            if line_no <= skip:
                continue
            if isinstance(parsed, RejectedLine):
                rejected.append(Rejected(parsed.line_no, parsed.reason))
            elif isinstance(parsed, ParsedEntry):
                entries.append(RemoteEntry(parsed.signal_type, parsed.value, list(parsed.labels), parsed.first_seen,
                                           None, parsed.line_no))
            if len(entries) + len(rejected) >= PAGE_SIZE:
                yield Page(entries, [], json.dumps({**base, "line": line_no}), rejected, more=True, listing=True)
                entries, rejected = [], []
        yield Page(entries, [], json.dumps({**base, "line": line_no, "done": True}), rejected, more=False,
                   listed_since=_parse_time(base.get("started")), listing=True)


def _started(state: dict[str, Any], skip: int) -> dict[str, Any]:
    """When this pass over the list began: now for a fresh pass, the stored moment for a resumed one.
    A resumed pass from before this was recorded has none, and then withdraws nothing."""
    if skip == 0:
        return {"started": utcnow().isoformat()}
    return {"started": state["started"]} if isinstance(state.get("started"), str) else {}


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
