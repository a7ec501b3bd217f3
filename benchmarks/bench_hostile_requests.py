"""/healthz latency while hostile requests run, against the same server idle (ratios, not absolutes).

Hostile requests, each sent in a loop by 2 client threads for the measuring window:
  * rules YAML nested 10,000 levels deep (flow style) via ``PUT /v1/rules``;
  * rules YAML nested 100,000 levels deep via ``POST /v1/rules/validate``;
  * 200 connections trickling header bytes (slowloris).
The peer is the same server with no hostile load, measured in the same run.

    PYTHONPATH=src python benchmarks/bench_hostile_requests.py --seconds 10
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.processes import cli, running_server, seawall_env


def deep(levels: int) -> str:
    return "version: 1\nrules:\n  - id: deep\n    then:\n      - webhook: {a: " + "[" * levels + "]" * levels + "}\n"


def healthz_latencies(base: str, seconds: float) -> list[float]:
    out: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client(timeout=60) as c:
        while time.monotonic() < end:
            t = time.perf_counter()
            c.get(f"{base}/healthz")
            out.append((time.perf_counter() - t) * 1000)
            time.sleep(0.02)
    return out


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run_with(load: Callable[[threading.Event], None], base: str, seconds: float) -> list[float]:
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(stop,)) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    try:
        return healthz_latencies(base, seconds)
    finally:
        stop.set()
        for t in threads:
            t.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = seawall_env(Path(tmp))
        cli(["db", "upgrade"], env)
        key = cli(["apikey", "create", "--role", "admin", "--name", "bench"], env).strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {key}", "content-type": "application/yaml"}
        with running_server(env) as base:
            port = int(env["SEAWALL_PORT"])
            statuses: dict[str, set[int]] = {}

            def put_rules(levels: int, path: str, method: str) -> Callable[[threading.Event], None]:
                body = deep(levels)

                def loop(stop: threading.Event) -> None:
                    with httpx.Client(timeout=120) as c:
                        while not stop.is_set():
                            r = c.request(method, f"{base}{path}", content=body, headers=headers)
                            statuses.setdefault(f"{levels}", set()).add(r.status_code)
                return loop

            def slowloris(stop: threading.Event) -> None:
                socks = []
                for _ in range(100):
                    s = socket.create_connection(("127.0.0.1", port))
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    socks.append(s)
                while not stop.is_set():
                    for s in socks:
                        with contextlib.suppress(OSError):
                            s.sendall(b"X: y\r\n")
                    time.sleep(0.5)
                for s in socks:
                    s.close()

            rows = [("idle (peer)", healthz_latencies(base, args.seconds))]
            rows.append(("rules 10,000 levels", run_with(put_rules(10_000, "/v1/rules", "PUT"), base, args.seconds)))
            rows.append(("rules 100,000 levels", run_with(put_rules(100_000, "/v1/rules/validate", "POST"), base,
                                                          args.seconds)))
            rows.append(("200 slowloris sockets", run_with(slowloris, base, args.seconds)))
    idle_p99 = pct(rows[0][1], 99)
    print(f"{'load':<24}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'p99 vs idle':>13}")
    for name, xs in rows:
        print(f"{name:<24}{len(xs):>6}{pct(xs, 50):>10.1f}{pct(xs, 99):>10.1f}{max(xs):>10.1f}"
              f"{pct(xs, 99) / idle_p99:>12.1f}x")
    print(f"hostile request answers: { {k: sorted(v) for k, v in statuses.items()} }")


if __name__ == "__main__":
    main()
