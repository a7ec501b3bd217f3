"""Real Matrix Synapse homeservers on loopback for the connector's tests and benchmark, always stopped.

Synapse (AGPL) lives in its own virtual environment (``scripts/test-prereqs`` makes ``.synapse-venv``;
``SEAWALL_SYNAPSE_PYTHON`` points elsewhere) and loads the Seawall module from the source tree. Each
homeserver gets a generated config in its own directory: SQLite, one client listener on a free
127.0.0.1 port, no federation or key servers, rate limits raised so tests are not throttled.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from tests.processes import free_port

REPO = Path(__file__).resolve().parent.parent
SHIM_SRC = REPO / "connectors" / "synapse" / "src"
SERVER_NAME = "localhost"
UNTHROTTLED = {"per_second": 10_000, "burst_count": 10_000}


def synapse_python() -> Path:
    """The Python that has matrix-synapse installed; a clear error (never a skip) when there is none."""
    configured = os.environ.get("SEAWALL_SYNAPSE_PYTHON")
    path = Path(configured) if configured else REPO / ".synapse-venv" / "bin" / "python"
    if not path.exists():
        raise RuntimeError(f"no Synapse Python at {path}: run `bash scripts/test-prereqs` (installs matrix-synapse "
                           "into .synapse-venv) or set SEAWALL_SYNAPSE_PYTHON")
    probe = subprocess.run([str(path), "-c", "import synapse"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise RuntimeError(f"{path} cannot import synapse: {probe.stderr.strip()[-500:]}")
    return path


@dataclass
class User:
    user_id: str
    token: str
    base: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def create_room(self) -> str:
        r = httpx.post(f"{self.base}/_matrix/client/v3/createRoom", headers=self.headers,
                       json={"preset": "public_chat", "name": "seawall test"}, timeout=30)
        r.raise_for_status()
        room: str = r.json()["room_id"]
        return room

    def join(self, room_id: str) -> None:
        r = httpx.post(f"{self.base}/_matrix/client/v3/join/{quote(room_id)}", headers=self.headers, json={},
                       timeout=30)
        r.raise_for_status()

    def send(self, room_id: str, body: str, **extra: Any) -> httpx.Response:
        return httpx.put(f"{self.base}/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/"
                         f"{uuid.uuid4().hex}", headers=self.headers,
                         json={"msgtype": "m.text", "body": body, **extra}, timeout=30)

    def upload(self, data: bytes, content_type: str = "image/jpeg") -> httpx.Response:
        return httpx.post(f"{self.base}/_matrix/media/v3/upload", params={"filename": "picture.jpg"},
                          headers={**self.headers, "Content-Type": content_type}, content=data, timeout=30)

    def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.base}/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}",
                      headers=self.headers, timeout=30)
        r.raise_for_status()
        got: dict[str, Any] = r.json()
        return got

    def messages(self, room_id: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.base}/_matrix/client/v3/rooms/{quote(room_id)}/messages",
                      params={"dir": "b", "limit": 100}, headers=self.headers, timeout=30)
        r.raise_for_status()
        chunk: list[dict[str, Any]] = r.json()["chunk"]
        return chunk


@dataclass
class Homeserver:
    directory: Path
    port: int
    shared_secret: str
    proc: subprocess.Popen[bytes] | None = None
    users: dict[str, User] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.directory / "homeserver.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def register(self, username: str, *, admin: bool = False) -> User:
        """A user made with the shared-secret admin registration API (HMAC-SHA1 over nonce, name, password)."""
        url = f"{self.base}/_synapse/admin/v1/register"
        nonce = httpx.get(url, timeout=30).json()["nonce"]
        password = f"pw-{uuid.uuid4().hex}"
        mac = hmac.new(self.shared_secret.encode(), b"\0".join(
            [nonce.encode(), username.encode(), password.encode(), b"admin" if admin else b"notadmin"]),
            hashlib.sha1).hexdigest()
        r = httpx.post(url, json={"nonce": nonce, "username": username, "password": password, "admin": admin,
                                  "mac": mac}, timeout=30)
        r.raise_for_status()
        user = User(r.json()["user_id"], r.json()["access_token"], self.base)
        self.users[username] = user
        return user

    def admin_user(self, user_id: str, admin: User) -> dict[str, Any]:
        r = httpx.get(f"{self.base}/_synapse/admin/v2/users/{quote(user_id)}", headers=admin.headers, timeout=30)
        r.raise_for_status()
        got: dict[str, Any] = r.json()
        return got


def _configure(python: Path, directory: Path, modules: list[dict[str, Any]]) -> Homeserver:
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "homeserver.yaml"
    subprocess.run([str(python), "-m", "synapse.app.homeserver", "--server-name", SERVER_NAME, "--config-path",
                    str(config_path), "--generate-config", "--report-stats=no", "--data-directory", str(directory)],
                   cwd=directory, check=True, capture_output=True, timeout=120)
    config = yaml.safe_load(config_path.read_text())
    port = free_port()
    modules = yaml.safe_load(yaml.safe_dump(modules).replace("{synapse_port}", str(port)))
    config.update({
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                       "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}],
        "trusted_key_servers": [], "suppress_key_server_warning": True, "modules": modules,
        "rc_message": UNTHROTTLED, "rc_registration": UNTHROTTLED, "rc_joins": {"local": UNTHROTTLED},
        "rc_login": {"address": UNTHROTTLED, "account": UNTHROTTLED, "failed_attempts": UNTHROTTLED},
        "rc_media_create": UNTHROTTLED, "rc_admin_redaction": UNTHROTTLED,
        "enable_authenticated_media": False,
    })
    config_path.write_text(yaml.safe_dump(config))
    log_config = yaml.safe_load(Path(config["log_config"]).read_text())
    log_config["handlers"]["file"]["filename"] = str(directory / "homeserver.log")
    Path(config["log_config"]).write_text(yaml.safe_dump(log_config))
    return Homeserver(directory, port, config["registration_shared_secret"])


def _start(python: Path, hs: Homeserver) -> None:
    env = {**os.environ, "PYTHONPATH": str(SHIM_SRC)}
    hs.proc = subprocess.Popen([str(python), "-m", "synapse.app.homeserver", "--config-path",
                                str(hs.directory / "homeserver.yaml")], cwd=hs.directory, env=env,
                               stdout=subprocess.DEVNULL, stderr=(hs.directory / "stderr.log").open("wb"),
                               start_new_session=True)


def _wait_ready(hs: Homeserver, timeout: float = 90) -> None:
    assert hs.proc is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{hs.base}/_matrix/client/versions", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if hs.proc.poll() is not None or time.monotonic() > deadline:
            stderr = (hs.directory / "stderr.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Synapse did not start:\n{stderr}\n{hs.log()}")
        time.sleep(0.1)


def _stop(hs: Homeserver) -> None:
    if hs.proc is None or hs.proc.poll() is not None:
        return
    os.killpg(hs.proc.pid, signal.SIGTERM)
    try:
        hs.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(hs.proc.pid, signal.SIGKILL)
        hs.proc.wait()


@contextmanager
def running_homeservers(specs: list[tuple[Path, list[dict[str, Any]]]]) -> Iterator[list[Homeserver]]:
    """Homeservers started side by side (``(directory, modules)`` each), ready when yielded, stopped on exit.

    ``{synapse_port}`` in a module's settings becomes the homeserver's port (e.g. for ``synapse_url``).
    """
    python = synapse_python()
    servers = [_configure(python, directory, modules) for directory, modules in specs]
    try:
        for hs in servers:
            _start(python, hs)
        for hs in servers:
            _wait_ready(hs)
        yield servers
    finally:
        for hs in servers:
            _stop(hs)
