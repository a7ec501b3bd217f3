"""Open-loop HTTP load: requests sent at a fixed arrival rate, latency counted from the intended send time.

Why: wrk (closed loop) sends the next request only when a connection's previous answer came back, so
a slow server is offered less load and the queueing delay its users would see never shows in the
percentiles (coordinated omission). A platform's uploads arrive when users post, not when Seawall is
ready: the upload target (p99 at an offered 50 uploads/s) needs a generator that keeps the schedule
whatever the server does, and measures each request from the moment it was due.

Requests are prebuilt raw HTTP/1.1 messages (so the client does almost no work per request on a
2-core machine that it shares with the server); they go over keep-alive connections taken from a
pool, and a new connection is opened whenever all pooled ones are busy (up to ``max_connections``).

    from loadgen import open_loop, http_request
    result = open_loop("127.0.0.1", port, rate=50, seconds=20, requests=[http_request(...), ...])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def http_request(method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """One raw HTTP/1.1 request with Content-Length, ready to be written to a socket as is."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(slots=True)
class OpenLoopResult:
    """What one open-loop run measured; latencies are seconds from the intended send time."""

    offered_rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    #: Each error by its exception's name and after how long (a reset, a timeout, a short read), so that an
    #: error in a table can be told apart from the server's behaviour.
    error_kinds: dict[str, int] = field(default_factory=dict)
    late_starts: int = 0  # requests the client itself could not send within 10 ms of their time
    connections: int = 0
    wall_seconds: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def achieved_rate(self) -> float:
        return self.ok / self.wall_seconds if self.wall_seconds else float("nan")

    def pct_ms(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        return float(np.percentile(np.asarray(self.latencies), p)) * 1000.0


#: Longest a pooled connection waits for its next request. Servers close keep-alive connections idle for
#: a few seconds (uvicorn: 5 s); a request written just as the server closes one fails with no answer (a
#: reused connection's race that HTTP clients avoid the same way), which is the client's doing, not the
#: server's: such connections are closed here and a new one opened instead.
IDLE_LIMIT_S = 3.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked body); returns its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _run(host: str, port: int, rate: float, seconds: float, requests: Sequence[bytes],
               max_connections: int, timeout: float) -> OpenLoopResult:
    result = OpenLoopResult(rate, seconds)
    # (reader, writer, when it went idle): a connection idle longer than IDLE_LIMIT_S is not reused
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    open_count = 0
    gate = asyncio.Semaphore(max_connections)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def one(k: int, due: float) -> None:
        nonlocal open_count
        async with gate:
            conn = None
            while idle and conn is None:
                reader, writer, since = idle.pop()
                if loop.time() - since <= IDLE_LIMIT_S:
                    conn = (reader, writer)
                else:  # the server may be closing it right now: a request sent on it could meet the close
                    writer.close()
                    open_count -= 1
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                    open_count += 1
                    result.connections = max(result.connections, open_count)
                reader, writer = conn
                writer.write(requests[k % len(requests)])
                await asyncio.wait_for(writer.drain(), timeout)
                status = await asyncio.wait_for(_read_response(reader), timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                result.errors += 1
                kind = f"{type(e).__name__} after {loop.time() - due:.1f} s"
                result.error_kinds[kind] = result.error_kinds.get(kind, 0) + 1
                if conn is not None:
                    conn[1].close()
                    open_count -= 1
                return
            result.latencies.append(loop.time() - due)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            idle.append((conn[0], conn[1], loop.time()))

    tasks: list[asyncio.Task[None]] = []
    total = int(rate * seconds)
    started = time.perf_counter()
    for k in range(total):
        due = t0 + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.010:
            result.late_starts += 1
        tasks.append(asyncio.create_task(one(k, due)))
    await asyncio.gather(*tasks)
    result.wall_seconds = time.perf_counter() - started
    for _, writer, _ in idle:
        writer.close()
    return result


def open_loop(host: str, port: int, *, rate: float, seconds: float, requests: Sequence[bytes],
              max_connections: int = 512, timeout: float = 60.0) -> OpenLoopResult:
    """Offer ``rate`` requests per second for ``seconds``, cycling through ``requests``; every request is
    sent at its time whether or not earlier ones were answered (up to ``max_connections`` in flight)."""
    if rate <= 0 or seconds <= 0 or not requests:
        raise ValueError("rate, seconds and requests must be positive / non-empty")
    return asyncio.run(_run(host, port, rate, seconds, requests, max_connections, timeout))
