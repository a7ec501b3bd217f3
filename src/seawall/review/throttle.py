"""Failed console sign-ins slow the guesser down without letting anyone lock a colleague out.

Two counters, both with exponential back-off rather than a hard lock:

* per client address (in this process's memory, bounded): after ``free`` failures from one address,
  every further attempt from it waits 1 s, 2 s, 4 s … up to ``max_seconds``. This stops both
  guessing one password and spraying one password over many accounts.
* per account (in the store, shared by every node): after ``free`` failures from anywhere, the
  account backs off the same way, except for browsers holding the account's *device cookie*, set
  by an earlier successful sign-in. A stranger hammering the admin account from many addresses
  slows only strangers; the admin signs in from a known browser as usual.

The device cookie is an HMAC of the user name keyed with a digest of the stored password hash: it
needs no storage, works on every node, and a password change invalidates every device.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_ADDRESSES = 100_000


def backoff_seconds(failures: int, free: int, max_seconds: float) -> float:
    """0 for the first ``free`` failures, then 1, 2, 4 … seconds, capped."""
    if failures < free:
        return 0.0
    return float(min(max_seconds, 2.0 ** min(failures - free, 40)))


def device_token(username: str, password_hash: str) -> str:
    """The device cookie value proving this browser signed in to ``username`` with the current password."""
    key = hashlib.sha256(b"seawall-device:" + password_hash.encode()).digest()
    mac = hmac.new(key, username.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def device_matches(cookie: str | None, username: str, password_hash: str) -> bool:
    return bool(cookie) and hmac.compare_digest(str(cookie), device_token(username, password_hash))


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class AddressThrottle:
    """Failures per client address with exponential back-off; forgets an address after a quiet spell."""

    def __init__(self, free: int = 5, max_seconds: float = 900, *, max_addresses: int = MAX_ADDRESSES) -> None:
        self.free = free
        self.max_seconds = max_seconds
        self.max_addresses = max_addresses
        self._seen: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, address: str, now: float | None = None) -> float:
        """Seconds this address must still wait before its next attempt (0: go ahead)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.get(address)
            if seen is None:
                return 0.0
            if now - seen.last > self.max_seconds * 2:
                del self._seen[address]
                return 0.0
            return max(0.0, seen.last + backoff_seconds(seen.count, self.free, self.max_seconds) - now)

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.pop(address, None) or _Failures(0, now)
            seen.count += 1
            seen.last = now
            self._seen[address] = seen
            while len(self._seen) > self.max_addresses:
                self._seen.popitem(last=False)
