"""Slow clients against a real ``seawall serve``: trickled headers and stalled bodies are cut off.

Sockets are real; the server runs with a 1 s header deadline and a 1 s body idle limit. No assertion
is about time: each check is that the server, not the client, ended the exchange, while the client
still had bytes left to trickle.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import running_server, seawall_env

TRICKLE_PAUSE = 0.25
TRICKLE_LINES = 200  # 50 s of trickling if the server never cut the connection


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    data: Path = tmp_path_factory.mktemp("slow")
    # no background warm-up of models: reading requests off the socket does not depend on it
    env = seawall_env(data, SEAWALL_HEADER_READ_TIMEOUT_SECONDS="1", SEAWALL_BODY_READ_TIMEOUT_SECONDS="1",
                      SEAWALL_WARM_UP="false")
    with running_server(env) as base:
        yield base, int(env["SEAWALL_PORT"])


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the peer closed: a read returns EOF or the connection is reset."""
    sock.settimeout(0.01)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def _trickle(sock: socket.socket, first: bytes) -> int:
    """Send ``first`` then one header line at a time; returns how many lines went out before the server cut us."""
    sock.sendall(first)
    for sent in range(TRICKLE_LINES):
        time.sleep(TRICKLE_PAUSE)
        if _closed_by_server(sock):
            return sent
        try:
            sock.sendall(f"X-Slow-{sent}: a\r\n".encode())
        except OSError:
            return sent
    return TRICKLE_LINES


def test_trickled_headers_are_cut_off_and_others_are_served(server: tuple[str, int]) -> None:
    base, port = server
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        for s in socks[1:]:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        sent = _trickle(socks[0], b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert sent < TRICKLE_LINES, "the server let a client trickle headers for ever"
        assert all(_wait_closed(s) for s in socks[1:])
        assert httpx.get(f"{base}/healthz").status_code == 200  # a well-behaved client is still served
    finally:
        for s in socks:
            s.close()


def test_silent_connection_is_cut_off(server: tuple[str, int]) -> None:
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        assert _wait_closed(s)


def test_second_request_on_a_kept_alive_connection_has_a_deadline_too(server: tuple[str, int]) -> None:
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        sent = _trickle(s, b"GET /healthz HTTP/1.1\r\n")
        assert sent < TRICKLE_LINES


def test_stalled_body_gets_408(server: tuple[str, int]) -> None:
    base, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /console/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: 1000\r\n\r\nusername=a")
        s.settimeout(30)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"connection: close" in answer.lower()
    assert httpx.get(f"{base}/healthz").status_code == 200


def _wait_closed(sock: socket.socket) -> bool:
    for _ in range(TRICKLE_LINES):
        if _closed_by_server(sock):
            return True
        time.sleep(TRICKLE_PAUSE)
    return False


def test_waiting_for_a_disconnect_after_the_body_is_not_a_stall() -> None:
    """Streaming responses (bank exports) listen for a disconnect for as long as they stream."""
    import asyncio

    from seawall.api.slowclients import BodyReadTimeoutMiddleware

    sent: list[dict[str, object]] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        first = await receive()  # type: ignore[operator]
        assert first["type"] == "http.request"
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        later = await receive()  # type: ignore[operator]  # blocks past the body timeout
        assert later["type"] == "http.disconnect"
        await send({"type": "http.response.body", "body": b"done"})  # type: ignore[operator]

    messages = [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]

    async def receive() -> dict[str, object]:
        message = messages.pop(0)
        if message["type"] == "http.disconnect":
            await asyncio.sleep(0.3)
        return message

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(BodyReadTimeoutMiddleware(app, timeout=0.1)({"type": "http"}, receive, send))  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
