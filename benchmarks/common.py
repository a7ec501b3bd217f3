"""Shared helpers for the benchmarks: generated inputs, throwaway servers and databases, wrk, tables.

Every input here is generated (noise fields, shapes, random hashes): a benchmark for a TVEC engine
must never need real-world material to run. Every server binds 127.0.0.1 on a free port and is
stopped with its whole process group, so an interrupted run leaves nothing listening.

Run as a script (``python benchmarks/common.py baseline --port P --hashes FILE``) it serves the naive
peer the API benchmarks compare against: a bare FastAPI app that scans all hashes with numpy.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import File, Form, UploadFile  # module level: FastAPI resolves the peer's annotations here
from fastapi.responses import JSONResponse
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
U8 = npt.NDArray[np.uint8]


# --------------------------------------------------------------------------------------------------
# Generated inputs
# --------------------------------------------------------------------------------------------------

def _pink_field(rng: np.random.Generator, h: int, w: int) -> npt.NDArray[np.float64]:
    """A 1/f^1.25 noise field in [0, 1]: natural photos have roughly this amplitude spectrum, so JPEG
    and PDQ behave on it much as on camera images, unlike on white noise or flat colour."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spectrum = (rng.standard_normal((h, w // 2 + 1)) + 1j * rng.standard_normal((h, w // 2 + 1))) / f**1.25
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(h, w))
    lo, hi = np.percentile(field, [1, 99])
    return np.clip((field - lo) / (hi - lo + 1e-12), 0.0, 1.0)


def synthetic_image(seed: int, width: int = 1024, height: int = 1024) -> U8:
    """A deterministic photo-like RGB image: 1/f luminance and chroma, a few hard-edged shapes, and
    fine sensor-like noise at full resolution (which is what makes JPEG draft decoding matter)."""
    rng = np.random.default_rng(seed)
    base_h, base_w = min(height, 512), min(width, 512)
    lum = _pink_field(rng, base_h, base_w)
    chroma = [_pink_field(rng, base_h, base_w) for _ in range(2)]
    tint = rng.uniform(0.1, 0.35, size=2)
    rgb = np.stack([
        lum + tint[0] * (chroma[0] - 0.5),
        lum - 0.5 * tint[0] * (chroma[0] - 0.5) + tint[1] * (chroma[1] - 0.5),
        lum - tint[1] * (chroma[1] - 0.5),
    ], axis=-1)
    small = Image.fromarray(np.clip(rgb * 255.0, 0, 255).astype(np.uint8), "RGB")
    img = small.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = min(width, x0 + int(rng.integers(width // 20, width // 3)))
        y1 = min(height, y0 + int(rng.integers(height // 20, height // 3)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    arr = np.asarray(img, dtype=np.int16)
    noise = rng.normal(0.0, 3.0, size=arr.shape).astype(np.int16)
    return np.clip(arr + noise, 0, 255).astype(np.uint8)


def encode_jpeg(pixels: U8, quality: int = 90) -> bytes:
    """JPEG bytes as a phone or a platform's re-encoder would produce (4:2:0, baseline)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def random_hashes(n: int, seed: int) -> U8:
    """``n`` uniformly random 256-bit hashes as an (n, 32) array (a worst case for nothing, a fair
    case for an index: real banks are clustered, which only makes bucketed indexes work harder)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def hashes_hex(hashes: U8) -> list[str]:
    """Rows of an (n, 32) array as 64-character lowercase hex strings."""
    blob = np.ascontiguousarray(hashes, dtype=np.uint8).tobytes().hex()
    return [blob[i:i + 64] for i in range(0, len(blob), 64)]


def flip_bits(hashes: U8, nbits: int, seed: int) -> U8:
    """Copies of ``hashes`` with ``nbits`` distinct random bits flipped in each (near duplicates)."""
    rng = np.random.default_rng(seed)
    out = np.array(hashes, dtype=np.uint8, copy=True).reshape(-1, 32)
    for row in out:
        for bit in rng.choice(256, size=nbits, replace=False):
            row[bit // 8] ^= np.uint8(0x80 >> (bit % 8))
    return out


def write_hash_file(path: Path, hashes: U8, chunk: int = 100_000) -> int:
    """Write ``pdq <hex>`` lines (the pytx/HMA text format); returns the byte size."""
    with path.open("w", encoding="ascii") as fh:
        for start in range(0, len(hashes), chunk):
            fh.write("".join(f"pdq {h}\n" for h in hashes_hex(hashes[start:start + chunk])))
    return path.stat().st_size


# --------------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile; NaN for no values rather than a misleading zero."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), p))


def time_per_call(fn: Any, *, repeat: int, warmup: int = 3) -> list[float]:
    """Seconds per call, one sample per call, after a warm-up so caches and lazy imports are settled."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by the process group ``pid`` leads (Linux): a server and its workers."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == pid:
            total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (Linux), to put memory next to speed."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table, so printed figures paste straight into the README."""
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_summary() -> str:
    """One line saying where the figures came from; ratios travel between machines, absolutes don't."""
    model = platform.processor() or "cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPU ({model}), Python {platform.python_version()}, {platform.system()}"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# --------------------------------------------------------------------------------------------------
# Processes: seawall CLI, servers
# --------------------------------------------------------------------------------------------------

def free_port() -> int:
    """A port nothing listens on right now (the kernel picks it), so parallel runs never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seawall_exe() -> str:
    """The ``seawall`` console script of the running interpreter's environment."""
    cand = Path(sys.executable).parent / "seawall"
    if cand.exists():
        return str(cand)
    found = shutil.which("seawall")
    if not found:
        raise SystemExit("the 'seawall' command is not installed in this environment")
    return found


def seawall_env(data_dir: Path, *, port: int = 0, database_url: str | None = None) -> dict[str, str]:
    """Environment for a CLI call or server: its own data dir, loopback only, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env.update({
        "SEAWALL_DATA_DIR": str(data_dir),
        "SEAWALL_HOST": "127.0.0.1",
        "SEAWALL_LOG_LEVEL": "warning",
    })
    if port:
        env["SEAWALL_PORT"] = str(port)
    if database_url:
        env["SEAWALL_DATABASE_URL"] = database_url
    return env


def run_cli(args: Sequence[str], env: dict[str, str], *,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``seawall …``; a failure raises with its stderr so a broken setup is never timed."""
    proc = subprocess.run([seawall_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"seawall {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return proc


def create_admin_key(env: dict[str, str]) -> str:
    """A fresh admin key: the CLI prints it alone on the last line of stdout."""
    out = run_cli(["apikey", "create", "--role", "admin", "--name", "bench"], env).stdout
    return out.strip().splitlines()[-1]


class Server:
    """A server subprocess in its own session, stopped with its whole process group.

    Used as a context manager so a benchmark that fails half-way still frees the port and memory.
    """

    def __init__(self, cmd: Sequence[str], env: dict[str, str], port: int, log_path: Path,
                 ready_path: str = "/healthz") -> None:
        self.cmd = list(cmd)
        self.env = env
        self.port = port
        self.log_path = log_path
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in = float("nan")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 600) -> Server:
        t0 = time.perf_counter()
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}; log:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", self.ready_path)
                status = conn.getresponse().status
                conn.close()
                if status == 404 and self.ready_path == "/readyz":  # a server from before /readyz existed
                    self.ready_path = "/healthz"
                    continue
                ok = status == 200
                if ok:
                    self.started_in = time.perf_counter() - t0
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout:.0f}s; log:\n{self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: Server processes for ``seawall serve`` in the API benchmarks (``--workers``); one per core here.
SERVER_WORKERS = int(os.environ.get("SEAWALL_BENCH_WORKERS", "2"))


def seawall_server(data_dir: Path, log_path: Path, *, database_url: str | None = None) -> Server:
    """``seawall serve`` exactly as an operator starts it, on a free loopback port."""
    port = free_port()
    return Server([seawall_exe(), "serve", "--workers", str(SERVER_WORKERS)],
                  seawall_env(data_dir, port=port, database_url=database_url), port, log_path,
                  ready_path="/readyz")  # warmed up: the first timed request is not a cold start


def baseline_server(hash_file: Path, log_path: Path) -> Server:
    """The naive peer (see :func:`baseline_app`) on a free loopback port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    cmd = [sys.executable, str(Path(__file__).resolve()), "baseline", "--port", str(port),
           "--hashes", str(hash_file)]
    return Server(cmd, env, port, log_path, ready_path="/healthz")


class Http:
    """A keep-alive HTTP/1.1 client on one connection: polling through it measures the server, not
    TCP handshakes or a client library's start-up."""

    def __init__(self, port: int, key: str = "") -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def json(self, method: str, path: str, payload: Any = None, *, expect: Sequence[int] = (200, 201)) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body, "application/json" if body is not None else None)
        if status not in expect:
            raise RuntimeError(f"{method} {path} → {status}: {data[:500]!r}")
        return json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()


def multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes,
              content_type: str = "image/jpeg") -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type header value."""
    boundary = "----seawallbench" + uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------------

WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, '
    .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "connect_err": %d, "read_err": %d, '
    .. '"write_err": %d, "status_err": %d, "timeout_err": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")


def wrk_exe() -> str:
    """Debian's ``wrk`` (``apt-get install -y wrk``): a C load generator, so on a 2-core machine the
    client steals far less CPU from the server than a Python client would."""
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return found


def lua_string(s: str) -> str:
    """A Lua long-bracket literal that cannot be closed by its content."""
    level = 0
    while f"]{'=' * level}]" in s:
        level += 1
    eq = "=" * level
    return f"[{eq}[{s}]{eq}]"


def run_wrk(url: str, lua: str, *, connections: int, seconds: float, workdir: Path,
            timeout_s: int = 10) -> WrkResult:
    """Run wrk with a request-building Lua script; the script's ``done`` reports exact percentiles."""
    script = workdir / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    script.write_text(lua + "\n" + WRK_DONE)
    threads = max(1, min(2, connections))
    cmd = [wrk_exe(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           f"--timeout={timeout_s}s", "-s", str(script), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    d = json.loads(line[len("WRKJSON "):])
    errors = sum(d[k] for k in ("connect_err", "read_err", "write_err", "status_err", "timeout_err"))
    return WrkResult(connections, int(d["requests"]), d["duration_us"] / 1e6, d["p50_us"] / 1e3,
                     d["p90_us"] / 1e3, d["p99_us"] / 1e3, d["max_us"] / 1e3, int(errors))


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def postgres_database(prefix: str = "seawall_bench") -> Iterator[str]:
    """A throwaway database on the local server, dropped afterwards even if the benchmark fails;
    yields its SQLAlchemy URL."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tempdir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)


# --------------------------------------------------------------------------------------------------
# The naive peer
# --------------------------------------------------------------------------------------------------

def load_hash_file(path: Path) -> npt.NDArray[np.uint64]:
    """``pdq <hex>`` lines → (n, 4) uint64 words, the layout a brute-force scan wants."""
    hexes: list[str] = []
    with path.open("r", encoding="ascii") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "pdq":
                hexes.append(parts[1])
    raw = bytes.fromhex("".join(hexes))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 4)


def baseline_app(hash_file: Path) -> Any:
    """What a straightforward first implementation looks like: FastAPI, no auth, no storage, full
    JPEG decode, PDQ of the original orientation only, and an exact numpy XOR+popcount scan over
    every hash for each query. Seawall does strictly more work per request (auth, eight dihedral
    hashes, a verdict stored in the database), so it only wins where its index and decoding do."""
    import pdqhash
    from fastapi import FastAPI

    words = load_hash_file(hash_file)
    digests: dict[str, int] = {}
    app = FastAPI()

    def scan(q_hex: str, radius: int = 31) -> list[dict[str, int]]:
        q = np.frombuffer(bytes.fromhex(q_hex), dtype=">u8").astype(np.uint64)
        d = np.bitwise_count(np.bitwise_xor(words, q)).sum(axis=1)
        hits = np.nonzero(d <= radius)[0]
        return [{"entry_id": int(i) + 1, "distance": int(d[i])} for i in hits]

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "hashes": len(words)}

    @app.get("/v1/lookup")
    def lookup(signal_type: str, value: str) -> JSONResponse:
        return JSONResponse({"signal_type": signal_type, "value": value, "matches": scan(value.lower())})

    @app.post("/v1/items")
    def upload(file: UploadFile = File(...), content_id: str = Form(...)) -> JSONResponse:
        img = Image.open(file.file).convert("RGB")
        bits, quality = pdqhash.compute(np.asarray(img))
        value = np.packbits(bits.astype(np.uint8)).tobytes().hex()
        matches = scan(value)
        return JSONResponse({"content_id": content_id, "pdq": value, "quality": int(quality),
                             "verdict": "block" if matches else "allow", "matches": matches})

    @app.post("/v1/text")
    def text(payload: dict[str, str]) -> JSONResponse:
        raw = payload.get("text", "").encode()
        md5, sha = hashlib.md5(raw).hexdigest(), hashlib.sha256(raw).hexdigest()
        hit = digests.get(md5) or digests.get(sha)
        return JSONResponse({"content_id": payload.get("content_id"), "verdict": "block" if hit else "allow",
                             "signals": [{"type": "md5", "value": md5}, {"type": "sha256", "value": sha}]})

    return app


def _main() -> None:
    parser = argparse.ArgumentParser(description="Serve the naive peer for the API benchmarks.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("baseline")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--hashes", type=Path, required=True)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(baseline_app(args.hashes), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    _main()


def write_pdq_feed(path: Path, n: int, seed: int = 7) -> None:
    """A text feed of ``n`` random PDQ hashes (``pdq <hex>`` lines), written 100,000 at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        for start in range(0, n, 100_000):
            block = rng.integers(0, 256, (min(100_000, n - start), 32), dtype=np.uint8)
            fh.write("".join(f"pdq {r.tobytes().hex()}\n" for r in block))


@contextlib.contextmanager
def stage1_uploads(datas: Sequence[bytes]) -> Iterator[Any]:
    """A function that submits the next of ``datas`` as an image upload through a real engine, measuring
    stage 1 only.

    Why: the stage-1 CPU benchmarks alternate variants in one process (a shared machine's load swings more
    than the difference measured) over the same engine: SQLite in a temporary folder, the work queue
    started and its stage-2 jobs dropped, so that the CPU time of this process is the request's own.
    """
    from seawall.composition import build_engine
    from seawall.config import Settings
    from seawall.uploads.stages import STAGE_TWO

    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(Settings(data_dir=Path(tmp)))
        try:
            engine.start_workers()
            assert engine.queue is not None
            engine.queue.register(STAGE_TWO, lambda item_id: None)
            counter = [0]

            def upload() -> None:
                counter[0] += 1
                i = counter[0]
                engine.submit(engine.content("image", data=datas[i % len(datas)]), content_id=f"c{i}",
                              account_id=f"a{i % 3}")

            upload.engine = engine  # type: ignore[attr-defined]
            yield upload
        finally:
            engine.close()


def cpu_ms_per_call(fn: Any, n: int) -> float:
    """CPU milliseconds of this process (all its threads) per call of ``fn``, over ``n`` calls."""
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return 1000 * (time.process_time() - t0) / n
