"""HTTP clients for the servers tests run on 127.0.0.1, all sharing one TLS context.

httpx builds a TLS context for every ``httpx.Client`` (and every ``httpx.get``, ``httpx.request``…),
loading the whole CA bundle each time: about 24 ms of CPU per client, though the tests speak plain
HTTP to loopback. Tests that open many clients (twenty copies of one request at once, a request per
call to a sharing peer) take them from here: the same verifying context httpx would build, made once.
"""

from __future__ import annotations

from typing import Any

import httpx

#: What httpx builds by default for each client (certificates verified against its CA bundle), built once.
TLS = httpx.create_ssl_context()


def client(**kw: Any) -> httpx.Client:
    """``httpx.Client(**kw)`` on the shared TLS context."""
    return httpx.Client(verify=TLS, **kw)


def request(method: str, url: str, **kw: Any) -> httpx.Response:
    """``httpx.request(method, url, **kw)`` on the shared TLS context (one connection, closed after)."""
    timeout = kw.pop("timeout", httpx.Timeout(5.0))
    with client(timeout=timeout) as c:
        return c.request(method, url, **kw)


def get(url: str, **kw: Any) -> httpx.Response:
    """``httpx.get`` on the shared TLS context."""
    return request("GET", url, **kw)


def post(url: str, **kw: Any) -> httpx.Response:
    """``httpx.post`` on the shared TLS context."""
    return request("POST", url, **kw)
