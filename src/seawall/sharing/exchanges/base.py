"""The interface every hash-sharing exchange implements; one small class per exchange.

Seawall never interprets a checkpoint: an exchange returns one with every page, Seawall stores it in
the transaction that applies the page and hands it back on the next pull. That is what makes a sync
resumable after a crash and a re-sync of an unchanged feed a no-op. An exchange does network I/O
only; it never touches the store, so a new exchange is one file registered with ``add_exchange``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from seawall.errors import InvalidInput, SeawallError
from seawall.plugins import Registry
from seawall.webhooks.ssrf import TargetPolicy


@dataclass(slots=True)
class RemoteEntry:
    """One hash as the exchange reported it; labels are the exchange's own (mapped on apply)."""

    signal_type: str
    value: str
    labels: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    #: The exchange's id for it, so a later deletion or opinion can name it.
    remote_id: str | None = None
    #: Where it sat in the page (or file line), for rejection reports.
    position: int = 0


@dataclass(slots=True)
class Tombstone:
    """The exchange withdrew an entry: by its remote id when it has one, else by value."""

    signal_type: str
    value: str
    remote_id: str | None = None
    position: int = 0


@dataclass(slots=True)
class Rejected:
    position: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "reason": self.reason}


@dataclass(slots=True)
class Page:
    """What one pull step returns; applied with ``checkpoint`` in one transaction."""

    entries: list[RemoteEntry]
    tombstones: list[Tombstone]
    checkpoint: str | None
    #: Entries the exchange could not even parse (the rest of the page still applies).
    rejected: list[Rejected] = field(default_factory=list)
    #: Whether the exchange has more right now (a sync keeps pulling until it has not).
    more: bool = False
    #: Total the exchange expects, when it knows (progress bars).
    total: int | None = None
    #: Set on the last page of a full listing (a file feed read to its end): everything the source
    #: still lists was seen since this moment, so its entries not seen since are withdrawn. Every page of
    #: that listing must say ``listing``, or entries it listed again would be withdrawn.
    listed_since: datetime | None = None
    #: The page belongs to a full listing (a file feed): each entry's provenance records that it was seen
    #: again (``last_seen``), since the listing's end withdraws what was not. A page of a change feed (a
    #: Seawall feed, an API's updates) leaves an unchanged entry's provenance untouched: re-reading a
    #: feed of millions then rewrites nothing, and the source's ``last_success_at`` says when it was read.
    listing: bool = False

    def __post_init__(self) -> None:
        # Withdrawal by listing trusts ``last_seen``, which only pages of a listing move: an exchange that
        # ended a listing it did not declare would make its source withdraw entries it still lists.
        if self.listed_since is not None and not self.listing:
            raise ValueError("a page that ends a full listing (listed_since) must be a listing page")


@dataclass(slots=True)
class Opinion:
    """A reviewer's decision on an item matched through an entry of this exchange."""

    remote_id: str | None
    signal_type: str
    value: str
    #: ``true_positive``, ``false_positive`` or ``seen``.
    opinion: str
    labels: list[str] = field(default_factory=list)


class PageRefused(SeawallError):
    """The whole page is untrustworthy (bad signature, replayed or rolled-back checkpoint, key change)."""

    status = 502
    code = "page_refused"


class ExchangeUnavailable(SeawallError):
    """The exchange is down, slow or rate-limiting: worth retrying later with back-off."""

    status = 503
    code = "exchange_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(slots=True)
class ExchangeContext:
    """What Seawall lends an exchange: the SSRF policy outbound fetches must pass, and timeouts."""

    policy: TargetPolicy
    timeout: float = 30.0
    #: The source's name, for the exchange's own bookkeeping and messages.
    source: str = ""
    #: The plugin registry (hash-list formats, signal types) of the engine the source belongs to.
    registry: Registry | None = None
    #: This instance's Ed25519 key, for exchanges that sign what they send (Seawall feedback).
    signing_key: Callable[[], Ed25519PrivateKey] | None = None


class Exchange(ABC):
    """One exchange kind; a fresh instance per source, configured with that source's settings."""

    name: ClassVar[str]
    #: One line for ``seawall plugins`` and the registry's listing.
    description: ClassVar[str] = ""
    #: Keys that must never be shown back (tokens, API secrets): the API masks them.
    secret_keys: ClassVar[tuple[str, ...]] = ()
    #: Whether :meth:`feedback` does anything.
    supports_feedback: ClassVar[bool] = False
    #: Whether :meth:`push` sends entries (a source may then list ``push_banks``).
    supports_push: ClassVar[bool] = False
    #: Feedback is signed with this instance's key, which the exchange's operator must register.
    signs_feedback: ClassVar[bool] = False
    #: Whether :meth:`pull` may block waiting for news (a live channel), so the runner calls it in a loop.
    live: ClassVar[bool] = False

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.context: ExchangeContext | None = None

    @abstractmethod
    def configure(self, config: dict[str, Any], context: ExchangeContext) -> dict[str, Any]:
        """Check ``config`` and keep it; returns the normalised config to store. Raises InvalidInput."""

    @abstractmethod
    def pull(self, checkpoint: str | None, *, wait: float = 0.0) -> Iterator[Page]:
        """Pages after ``checkpoint``, oldest first. ``wait`` > 0 lets a live exchange hold the last
        request open that long for news. Raises ExchangeUnavailable (retry later) or PageRefused."""

    def push(self, entries: list[RemoteEntry]) -> None:
        """Send entries to the exchange (exchanges that accept submissions override this)."""
        raise InvalidInput(f"the {self.name} exchange does not accept entries", code="push_unsupported")

    def feedback(self, opinions: list[Opinion]) -> int:
        """Send reviewers' opinions; returns how many the exchange took."""
        return 0


# --- helpers shared by the HTTP exchanges ----------------------------------------------------------------


def require_str(config: dict[str, Any], key: str, *, optional: bool = False) -> str:
    value = config.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{key}: required (a non-empty string)", code="invalid_source_config")
    return value.strip()


def checked_get(context: ExchangeContext, url: str, *, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None, timeout: float | None = None,
                method: str = "GET", content: bytes | None = None,
                client: httpx.Client | None = None) -> httpx.Response:
    """A request to a URL that passed the SSRF checks, connecting to the checked address, no redirects.

    429 and 5xx become :class:`ExchangeUnavailable` (with the server's Retry-After), so the runner
    backs off; anything else is returned for the exchange to judge. A ``client`` (see
    :func:`exchange_client`) is reused across the pages of one pull: its connection stays open, and
    no TLS context is built per request (which costs more than a page of a few thousand entries).
    """
    if client is None:
        with exchange_client(context) as own:
            return checked_get(context, url, headers=headers, params=params, timeout=timeout, method=method,
                               content=content, client=own)
    target, addresses = context.policy.check(url)
    hdrs = {"host": target.host_header, **(headers or {})}
    extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
    last = "no address to connect to"
    for address in addresses:
        try:
            request = client.build_request(method, target.url_for(address), headers=hdrs, params=params,
                                           content=content, extensions=extensions,
                                           timeout=timeout or context.timeout)
            response = client.send(request)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code == 429 or response.status_code >= 500:
            retry = response.headers.get("retry-after")
            try:
                after = float(retry) if retry else None
            except ValueError:
                after = None
            raise ExchangeUnavailable(f"{target.host} answered HTTP {response.status_code}", retry_after=after)
        return response
    raise ExchangeUnavailable(f"{target.host} is unreachable ({last})")


def exchange_client(context: ExchangeContext) -> httpx.Client:
    """The HTTP client exchanges send through: no redirects, no proxies from the environment."""
    return httpx.Client(follow_redirects=False, trust_env=False, timeout=context.timeout)


@contextmanager
def checked_stream(context: ExchangeContext, url: str, *, headers: dict[str, str] | None = None,
                   timeout: float | None = None) -> Iterator[httpx.Response]:
    """Like :func:`checked_get` but streamed, for lists too large to hold in memory."""
    target, addresses = context.policy.check(url)
    hdrs = {"host": target.host_header, **(headers or {})}
    extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
    last = "no address to connect to"
    with httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout or context.timeout) as client:
        for address in addresses:
            try:
                request = client.build_request("GET", target.url_for(address), headers=hdrs, extensions=extensions)
                response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            try:
                if response.status_code == 429 or response.status_code >= 500:
                    raise ExchangeUnavailable(f"{target.host} answered HTTP {response.status_code}")
                yield response
            finally:
                response.close()
            return
    raise ExchangeUnavailable(f"{target.host} is unreachable ({last})")
