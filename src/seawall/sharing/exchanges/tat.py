"""Tech Against Terrorism hash list (TCAP): verified terrorist content hashes, paged with a checkpoint.

The service authenticates a TCAP account (``POST token-auth/tcap/`` with username and password returns
a bearer token) and serves the list in pages: ``GET api/hash-list/v2/<ideology>?after=<checkpoint>``
answers ``{"count", "next", "previous", "checkpoint", "results": [...]}``; each result carries
``id``, ``hash_digest``, ``algorithm``, ``ideology``, ``file_type``, ``deleted``, ``created_on`` and
``updated_on``. A result marked ``deleted`` withdraws the hash. The checkpoint of the last page is
what the next sync continues from, so a sync after a day reads only that day's changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from seawall.errors import InvalidInput, SeawallError
from seawall.sharing.exchanges.base import (
    Exchange,
    ExchangeContext,
    Page,
    Rejected,
    RemoteEntry,
    Tombstone,
    checked_get,
    require_str,
)

DEFAULT_URL = "https://beta.terrorismanalytics.org"
IDEOLOGIES = ("all", "islamist", "far-right")
#: TCAP algorithm names → Seawall signal types.
ALGORITHMS = {"md5": "md5", "sha256": "sha256", "sha-256": "sha256", "pdq": "pdq"}
MAX_PAGES_PER_SYNC = 10_000
#: TCAP ideologies → Seawall's taxonomy (others arrive as ``ideology:<slug>`` for a source's label_map).
IDEOLOGY_LABELS = {"islamist": "ideology:violent-jihadist", "far-right": "ideology:violent-far-right"}


def _when(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.strip().lower()).strip("-")[:64]


class TechAgainstTerrorismExchange(Exchange):
    name = "tat"
    description = "Tech Against Terrorism hash list (TCAP), paged with a checkpoint."
    secret_keys = ("password",)

    def configure(self, config: dict[str, Any], context: ExchangeContext) -> dict[str, Any]:
        url = str(config.get("url") or DEFAULT_URL).strip().rstrip("/")
        context.policy.parse(url)
        ideology = str(config.get("ideology") or "all")
        if ideology not in IDEOLOGIES:
            raise InvalidInput(f"ideology: one of {', '.join(IDEOLOGIES)}", code="invalid_source_config")
        self.config = {"url": url, "username": require_str(config, "username"),
                       "password": require_str(config, "password"), "ideology": ideology}
        self.context = context
        self._token: str | None = None
        return dict(self.config)

    def _login(self) -> str:
        assert self.context is not None
        if self._token is None:
            body = f"username={quote(self.config['username'])}&password={quote(self.config['password'])}&resend=false"
            r = checked_get(self.context, self.config["url"] + "/token-auth/tcap/", method="POST",
                            headers={"content-type": "application/x-www-form-urlencoded"}, content=body.encode())
            if r.status_code != 200 or not isinstance(r.json(), dict) or not r.json().get("token"):
                raise SeawallError(f"TCAP refused the login (HTTP {r.status_code})", code="exchange_auth_failed")
            self._token = str(r.json()["token"])
        return self._token

    def pull(self, checkpoint: str | None, *, wait: float = 0.0) -> Iterator[Page]:
        assert self.context is not None
        after = checkpoint or ""
        for _ in range(MAX_PAGES_PER_SYNC):
            url = f"{self.config['url']}/api/hash-list/v2/{self.config['ideology']}"
            r = checked_get(self.context, url, headers={"authorization": f"Bearer {self._login()}"},
                            params={"after": after} if after else None)
            if r.status_code == 401:
                self._token = None
                raise SeawallError("TCAP no longer accepts the token; the next sync logs in again",
                                   code="exchange_auth_failed")
            if r.status_code != 200:
                raise SeawallError(f"TCAP answered HTTP {r.status_code}", code="exchange_refused")
            body = r.json()
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise SeawallError("TCAP's answer has no results list", code="exchange_refused")
            page = self._page(body, after)
            yield page
            if not body.get("next") or page.checkpoint == after:
                return
            after = page.checkpoint or after

    def _page(self, body: dict[str, Any], after: str) -> Page:
        entries: list[RemoteEntry] = []
        tombstones: list[Tombstone] = []
        rejected: list[Rejected] = []
        for i, row in enumerate(body["results"]):
            if not isinstance(row, dict):
                rejected.append(Rejected(i, "not an object"))
                continue
            algorithm = str(row.get("algorithm") or "").strip().lower()
            signal = ALGORITHMS.get(algorithm)
            digest = row.get("hash_digest")
            if signal is None or not isinstance(digest, str):
                rejected.append(Rejected(i, f"unsupported algorithm {row.get('algorithm')!r} or no hash_digest"))
                continue
            remote = str(row["id"]) if row.get("id") is not None else None
            if row.get("deleted") is True:
                tombstones.append(Tombstone(signal, digest, remote, i))
                continue
            labels = []
            ideology = row.get("ideology")
            if isinstance(ideology, str) and ideology:
                labels.append(IDEOLOGY_LABELS.get(ideology.strip().lower(), f"ideology:{_slug(ideology)}"))
            entries.append(RemoteEntry(signal, digest, labels, _when(row.get("created_on") or row.get("updated_on")),
                                       remote, i))
        checkpoint = body.get("checkpoint")
        total = body.get("count") if isinstance(body.get("count"), int) else None
        return Page(entries, tombstones, str(checkpoint) if checkpoint else after or None, rejected,
                    more=bool(body.get("next")), total=total)
