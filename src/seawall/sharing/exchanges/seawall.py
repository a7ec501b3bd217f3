"""Subscribing to another Seawall instance's feed: signed pages, pinned key, live long poll.

Each page is checked before anything is stored: it must be signed by the publisher key pinned when
the source was added, name this feed and continue from exactly the checkpoint asked for, and its
new checkpoint must not go back. Any failure refuses the whole page (the source's status says why);
a malformed entry inside a good page is rejected alone, with its position.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from seawall.errors import InvalidInput, SeawallError
from seawall.sharing.exchanges.base import (
    Exchange,
    ExchangeContext,
    ExchangeUnavailable,
    Opinion,
    Page,
    PageRefused,
    Rejected,
    RemoteEntry,
    Tombstone,
    checked_get,
    exchange_client,
    require_str,
)
from seawall.sharing.feedback_signing import signed_feedback
from seawall.sharing.feeds import CHECKPOINT_HEADER, MORE_HEADER, Cursor
from seawall.sharing.signing import public_key_from, public_text, verify, verify_bytes

#: Entries asked for a page: large pages spread each request's fixed cost (a round trip, a signature,
#: a transaction, the store's index pages rewritten at each commit) over more entries; 20,000 PDQ
#: entries are about 2 MB of JSON. At most two pages are held in memory (see ``prefetch``).
PAGE_SIZE = 20_000
#: Largest page a subscriber may ask for (the publisher's ``PAGE_MAX``).
PAGE_SIZE_MAX = 50_000
#: Largest page publishers before 50,000-entry pages serve: a 422 to a larger ``limit`` is retried at this.
LEGACY_PAGE_MAX = 5000
#: Longest a live pull holds one request open waiting for news.
MAX_WAIT = 25.0


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_SIGNED_HEAD = b'{"signature":"'
_PAGE_KEY = b'","page":'


def _open_envelope(raw: bytes, key: Ed25519PublicKey) -> tuple[Any, bool]:
    """The answer parsed, and whether its signature was already checked over the page's exact bytes.

    A publisher sends ``{"signature":"…","page":<canonical JSON>}``: the page's bytes are the signed
    bytes, so they are verified as they came and parsed once. Any other layout (or a signature that
    does not cover the bytes as sent) is parsed whole and checked over the page serialised again
    (:func:`~seawall.sharing.signing.verify`), which refuses what does not match either way."""
    if raw.startswith(_SIGNED_HEAD) and raw.endswith(b"}"):
        end = raw.find(b'"', len(_SIGNED_HEAD))
        if end > 0 and raw.startswith(_PAGE_KEY, end):
            page = raw[end + len(_PAGE_KEY):-1]
            if verify_bytes(key, raw[len(_SIGNED_HEAD):end], page):
                try:
                    return {"page": json.loads(page)}, True
                except ValueError:
                    raise PageRefused("the publisher's answer is not JSON") from None
    try:
        return json.loads(raw), False
    except ValueError:
        raise PageRefused("the publisher's answer is not JSON") from None


def _next_hint(response: httpx.Response, asked: str | None) -> str | None:
    """The checkpoint to ask the next page at before this one is verified: the publisher's unsigned hint
    when it says more is waiting (None when it does not, or sends no hint: an older publisher)."""
    if response.headers.get(MORE_HEADER) != "1":
        return None
    hint = response.headers.get(CHECKPOINT_HEADER)
    if not hint or len(hint) > 200 or hint == (asked or ""):
        return None
    return hint


class _Ahead:
    """The answer to one page request sent on a hint, fetched on its own thread (the network and the
    publisher's work run while this process verifies the page before); at most one is in flight."""

    def __init__(self, after: str, fetch: Callable[[str], httpx.Response]) -> None:
        self.after = after
        self._response: httpx.Response | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, args=(fetch,), name="seawall-fetch-ahead", daemon=True).start()

    def _run(self, fetch: Callable[[str], httpx.Response]) -> None:
        try:
            self._response = fetch(self.after)
        except BaseException as exc:  # raised to the reader if it uses this answer, else dropped
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> httpx.Response:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response


class SeawallFeedExchange(Exchange):
    name = "seawall"
    description = "Another Seawall instance's signed feed (live long poll, tombstones, feedback)."
    secret_keys = ("token",)
    supports_feedback = True
    supports_push = True
    signs_feedback = True
    live = True

    def configure(self, config: dict[str, Any], context: ExchangeContext) -> dict[str, Any]:
        url = require_str(config, "url").rstrip("/")
        context.policy.parse(url)  # syntax now; addresses are checked on every request
        feed = require_str(config, "feed")
        key = public_text(public_key_from(require_str(config, "public_key")))
        token = require_str(config, "token")
        size = config.get("page_size", PAGE_SIZE)
        try:
            size = int(size)
        except (TypeError, ValueError):
            size = 0
        if not 10 <= size <= PAGE_SIZE_MAX:
            raise InvalidInput(f"page_size: from 10 to {PAGE_SIZE_MAX} entries", code="invalid_source_config")
        self.config = {"url": url, "feed": feed, "public_key": key, "token": token, "page_size": size}
        self.context = context
        return dict(self.config)

    def _url(self, suffix: str) -> str:
        return f"{self.config['url']}/v1/feeds/{quote(self.config['feed'], safe='')}/{suffix}"

    def _auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.config['token']}"}

    def pull(self, checkpoint: str | None, *, wait: float = 0.0) -> Iterator[Page]:
        """Pages from ``checkpoint`` on. While a page is verified and parsed, the next one is already
        being asked for at the checkpoint the publisher's unsigned hint headers name (see
        :func:`~seawall.sharing.feeds.read_ahead_hint`): the publisher builds page k+1 while page k is
        checked here. That answer is used only when page k's verified checkpoint is the hinted one, so
        it is exactly the answer a request sent afterwards would have asked for; otherwise it is dropped
        and the next page is asked for again. Every page is still verified before it is handed on."""
        assert self.context is not None
        context = self.context
        wait = max(0.0, min(wait, MAX_WAIT))
        key = public_key_from(self.config["public_key"])
        with exchange_client(context) as client:

            def fetch(after: str | None) -> httpx.Response:
                params: dict[str, Any] = {"after": after or "", "limit": self.config["page_size"]}
                if wait:
                    params["wait"] = wait
                return checked_get(context, self._url("entries"), headers=self._auth(), params=params,
                                   timeout=context.timeout + wait, client=client)

            ahead: _Ahead | None = None
            while True:
                if ahead is not None and ahead.after == (checkpoint or ""):
                    response = ahead.result()  # its failure surfaces here, after the pages before it
                else:
                    response = fetch(checkpoint)
                ahead = None
                if response.status_code == 422 and self.config["page_size"] > LEGACY_PAGE_MAX:
                    self.config["page_size"] = LEGACY_PAGE_MAX  # an older publisher: ask for its largest page
                    continue
                if response.status_code != 200:
                    raise SeawallError(f"the publisher answered HTTP {response.status_code}: "
                                       f"{response.text[:300]}", code="exchange_refused")
                hint = _next_hint(response, checkpoint)
                if hint is not None:
                    ahead = _Ahead(hint, fetch)
                page = self._check(_open_envelope(response.content, key), checkpoint)
                yield page
                checkpoint = page.checkpoint
                if not page.more:
                    return

    def _check(self, opened: tuple[Any, bool], checkpoint: str | None) -> Page:
        envelope, verified = opened
        if not isinstance(envelope, dict) or not isinstance(envelope.get("page"), dict):
            raise PageRefused("the answer carries no signed page")
        body: dict[str, Any] = envelope["page"]
        if body.get("public_key") != self.config["public_key"]:
            raise PageRefused("the publisher's key changed: the page is signed by a key other than the one pinned "
                              "for this source; confirm the new key with the publisher and update public_key")
        if not verified and (not isinstance(envelope.get("signature"), str) or not verify(
                public_key_from(self.config["public_key"]), envelope["signature"], body)):
            raise PageRefused("bad signature: the page was not signed by the pinned publisher key")
        if body.get("feed") != self.config["feed"]:
            raise PageRefused(f"the page belongs to feed {body.get('feed')!r}, not {self.config['feed']!r}")
        if (body.get("after") or "") != (checkpoint or ""):
            raise PageRefused("replayed page: it continues from another checkpoint than the one asked for")
        new = body.get("checkpoint")
        if not isinstance(new, str):
            raise PageRefused("the page has no checkpoint")
        try:
            if not Cursor.parse(new).not_behind(Cursor.parse(checkpoint)):
                raise PageRefused("rolled-back checkpoint: the page would move this source backwards")
        except InvalidInput:
            raise PageRefused("the page's checkpoint is malformed") from None
        entries: list[RemoteEntry] = []
        rejected: list[Rejected] = []
        dates: dict[Any, datetime | None] = {}  # the entries of one import share their time stamp
        for i, e in enumerate(body.get("entries") or []):
            if (not isinstance(e, dict) or not isinstance(e.get("signal_type"), str)
                    or not isinstance(e.get("value"), str) or not isinstance(e.get("labels", []), list)):
                rejected.append(Rejected(i, "entry needs signal_type and value (strings) and labels (a list)"))
                continue
            seen = e.get("first_seen")
            try:
                first = dates[seen]
            except (KeyError, TypeError):
                first = _date(seen)
                if isinstance(seen, str):
                    dates[seen] = first
            labels = e.get("labels")
            rid = e.get("id")
            entries.append(RemoteEntry(e["signal_type"], e["value"], [str(x) for x in labels] if labels else [],
                                       first, str(rid) if rid is not None else None, i))
        tombstones: list[Tombstone] = []
        for i, t in enumerate(body.get("tombstones") or []):
            if not isinstance(t, dict) or not isinstance(t.get("signal_type"), str) or not isinstance(
                    t.get("value"), str):
                rejected.append(Rejected(i, "tombstone needs signal_type and value (strings)"))
                continue
            tombstones.append(Tombstone(t["signal_type"], t["value"],
                                        str(t["id"]) if t.get("id") is not None else None, i))
        return Page(entries, tombstones, new, rejected, more=bool(body.get("more")))

    def push(self, entries: list[RemoteEntry]) -> None:
        """Offer entries to the publisher; it takes them into a review-only bank if its feed allows it."""
        assert self.context is not None
        body = json.dumps({"entries": [{"signal_type": e.signal_type, "value": e.value, "labels": e.labels}
                                       for e in entries]}).encode()
        response = checked_get(self.context, self._url("contributions"), method="POST", headers={
            **self._auth(), "content-type": "application/json"}, content=body)
        if response.status_code in (401, 403, 422):
            raise InvalidInput(f"the publisher refused the entries: HTTP {response.status_code}: "
                               f"{response.text[:300]}", code="push_refused")
        if response.status_code != 200:
            raise ExchangeUnavailable(f"the publisher did not take the entries: HTTP {response.status_code}")

    def feedback(self, opinions: list[Opinion]) -> int:
        assert self.context is not None
        items = [{"entry_id": o.remote_id, "opinion": o.opinion} for o in opinions if o.remote_id]
        if not items:
            return 0
        if self.context.signing_key is None:
            raise SeawallError("this instance has no signing key to sign feedback with", code="no_signing_key")
        body = signed_feedback(self.context.signing_key(), self.config["feed"], items)
        response = checked_get(self.context, self._url("feedback"), method="POST", headers={
            **self._auth(), "content-type": "application/json"}, content=body)
        if response.status_code != 200:
            raise ExchangeUnavailable(f"the publisher refused feedback: HTTP {response.status_code}: "
                                      f"{response.text[:300]}")
        return int(response.json().get("recorded", 0))
