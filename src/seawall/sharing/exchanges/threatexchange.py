"""Meta ThreatExchange (how GIFCT members share hashes): threat updates of a privacy group, and reactions.

Follows the public Graph API: ``GET /<version>/threat_updates`` with ``privacy_group``,
``start_time`` (Unix seconds), ``fields`` and an ``access_token`` returns ``{"data": [...],
"paging": {"cursors": {"after"}, "next"}}``; each update has ``id``, ``indicator``, ``type``
(``HASH_PDQ``, ``HASH_MD5``…), ``last_updated``, ``should_delete`` and ``tags``. An update with
``should_delete`` withdraws the indicator. The checkpoint is the newest ``last_updated`` applied plus
the paging cursor within it, so a crash mid-window resumes at the page it had reached. Reviewers'
decisions go back as reactions (``POST /<version>/<id>/reactions``): ``SAW_THIS_TOO`` for a confirmed
match, ``DISAGREE_WITH_TAGS`` for a false positive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from seawall.errors import InvalidInput, SeawallError
from seawall.sharing.exchanges.base import (
    Exchange,
    ExchangeContext,
    ExchangeUnavailable,
    Opinion,
    Page,
    Rejected,
    RemoteEntry,
    Tombstone,
    checked_get,
    require_str,
)

DEFAULT_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v18.0"
TYPES = {"HASH_PDQ": "pdq", "HASH_MD5": "md5", "HASH_SHA256": "sha256", "URI": "url", "HASH_VIDEO_MD5": "md5"}
FIELDS = "id,indicator,type,creation_time,last_updated,should_delete,tags"
REACTION_OF = {"true_positive": "SAW_THIS_TOO", "seen": "SAW_THIS_TOO", "false_positive": "DISAGREE_WITH_TAGS"}
PAGE_SIZE = 1000
MAX_PAGES_PER_SYNC = 10_000


def _ts(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


class ThreatExchangeExchange(Exchange):
    name = "threatexchange"
    description = "Meta ThreatExchange threat updates of a privacy group, with reactions back."
    secret_keys = ("access_token",)
    supports_feedback = True

    def configure(self, config: dict[str, Any], context: ExchangeContext) -> dict[str, Any]:
        url = str(config.get("url") or DEFAULT_URL).strip().rstrip("/")
        context.policy.parse(url)
        group = str(config.get("privacy_group") or "").strip()
        if not group.isdigit():
            raise InvalidInput("privacy_group: the numeric id of a ThreatExchange privacy group",
                               code="invalid_source_config")
        version = str(config.get("api_version") or DEFAULT_VERSION)
        if not version.startswith("v"):
            raise InvalidInput("api_version: like v18.0", code="invalid_source_config")
        self.config = {"url": url, "privacy_group": group, "access_token": require_str(config, "access_token"),
                       "api_version": version}
        self.context = context
        return dict(self.config)

    def _base(self) -> str:
        return f"{self.config['url']}/{self.config['api_version']}"

    def pull(self, checkpoint: str | None, *, wait: float = 0.0) -> Iterator[Page]:
        assert self.context is not None
        state = json.loads(checkpoint) if checkpoint else {}
        since = int(state.get("since", 0))
        cursor = state.get("after")
        newest = int(state.get("newest", since))
        for _ in range(MAX_PAGES_PER_SYNC):
            params: dict[str, Any] = {"privacy_group": self.config["privacy_group"], "fields": FIELDS,
                                      "limit": PAGE_SIZE, "access_token": self.config["access_token"]}
            if since:
                params["start_time"] = since
            if cursor:
                params["after"] = cursor
            r = checked_get(self.context, f"{self._base()}/threat_updates", params=params)
            if r.status_code != 200:
                raise SeawallError(f"ThreatExchange answered HTTP {r.status_code}: {r.text[:200]}",
                                   code="exchange_refused")
            body = r.json()
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise SeawallError("ThreatExchange's answer has no data list", code="exchange_refused")
            entries, tombstones, rejected, page_newest = self._parse(body["data"])
            newest = max(newest, page_newest)
            paging = body.get("paging") or {}
            nxt = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            if nxt:
                cp = {"since": since, "after": nxt, "newest": newest}
            else:  # window done: the next sync asks for updates since the newest one seen
                cp = {"since": newest, "after": None, "newest": newest}
            yield Page(entries, tombstones, json.dumps(cp, sort_keys=True), rejected, more=bool(nxt))
            if not nxt:
                return
            cursor = nxt

    def _parse(self, data: list[Any]) -> tuple[list[RemoteEntry], list[Tombstone], list[Rejected], int]:
        entries: list[RemoteEntry] = []
        tombstones: list[Tombstone] = []
        rejected: list[Rejected] = []
        newest = 0
        for i, u in enumerate(data):
            if not isinstance(u, dict) or not isinstance(u.get("indicator"), str):
                rejected.append(Rejected(i, "update without an indicator"))
                continue
            signal = TYPES.get(str(u.get("type") or ""))
            if signal is None:
                rejected.append(Rejected(i, f"indicator type {u.get('type')!r} has no Seawall signal type"))
                continue
            updated = _ts(u.get("last_updated")) or 0
            newest = max(newest, updated)
            remote = str(u["id"]) if u.get("id") is not None else None
            if u.get("should_delete") is True:
                tombstones.append(Tombstone(signal, u["indicator"], remote, i))
                continue
            tags = [str(t) for t in (u.get("tags") or []) if isinstance(t, str)]
            created = _ts(u.get("creation_time"))
            entries.append(RemoteEntry(signal, u["indicator"], tags,
                                       datetime.fromtimestamp(created, UTC) if created else None, remote, i))
        return entries, tombstones, rejected, newest

    def feedback(self, opinions: list[Opinion]) -> int:
        assert self.context is not None
        sent = 0
        for o in opinions:
            reaction = REACTION_OF.get(o.opinion)
            if not o.remote_id or reaction is None or not o.remote_id.isdigit():
                continue
            r = checked_get(self.context, f"{self._base()}/{o.remote_id}/reactions", method="POST",
                            params={"reaction": reaction, "access_token": self.config["access_token"]})
            if r.status_code != 200:
                raise ExchangeUnavailable(f"ThreatExchange refused a reaction: HTTP {r.status_code}")
            sent += 1
        return sent
