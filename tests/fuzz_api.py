"""Schemathesis against a real ``seawall serve`` on loopback, inside a private network namespace.

The fuzzer invents webhook and source URLs, so this module re-runs itself under ``unshare -n`` with
only the loopback interface up: nothing it generates can reach another machine. PostgreSQL's TCP port
is outside that namespace, so the server reaches it through its unix socket.

``python -m tests.fuzz_api --database sqlite --max-examples 200`` is the long run (``make fuzz``);
``tests/test_fuzz_api.py`` runs a bounded one. Exit status 0 means no server error and no response
that disagrees with the published OpenAPI schema.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.processes import cli, running_server, seawall_env

PG_SOCKET_DIR = "/var/run/postgresql"
CHECKS = "not_a_server_error,response_schema_conformance"
#: Request bodies and parameters from every phase: the schema's examples, boundary values (coverage)
#: and random data (fuzzing).
PHASES = "examples,coverage,fuzzing"


def in_private_network() -> bool:
    """True when the only network interface is loopback (the namespace ``unshare -n`` creates)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]  # per namespace, unlike /sys/class/net
    return [line.split(":", 1)[0].strip() for line in lines] == ["lo"]


@contextmanager
def database(kind: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """SEAWALL_* settings for a fresh store of ``kind``; a PostgreSQL database is dropped afterwards."""
    if kind == "sqlite":
        yield {}
        return
    name = f"seawall_fuzz_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_SOCKET_DIR} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"SEAWALL_DATABASE_URL": f"postgresql+psycopg://postgres@/{name}?host={PG_SOCKET_DIR}"}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: Where each seeded id may appear in a request: a bound parameter takes a real id half of the time and a
#: generated value otherwise, so operations reach stored objects as well as every kind of bad id.
BINDINGS = {
    "path.name": "banks", "path.item_id": "items", "path.account_id": "accounts",
    "path.webhook_id": "webhooks", "path.entry_id": "entries", "path.appeal_id": "appeals",
    "path.delivery_id": "deliveries", "query.content_id": "content_ids", "body.item_id": "items",
    "body.account_id": "accounts", "body.content_id": "content_ids",
}
BANNED = "generated stand-in for a banned slogan, used by the API fuzz run"
RULES = """\
rules:
  - id: threat
    when: {match: {bank_kind: block}}
    then: [block, strike, queue]
"""


def seed(base: str, admin_key: str) -> dict[str, list[Any]]:
    """Stored objects of every kind, made through the API, for the fuzzer to find by id."""
    admin = {"Authorization": f"Bearer {admin_key}"}

    def call(method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{base}{path}", headers={**admin, **kw.pop("headers", {})}, timeout=60, **kw)
        if r.status_code >= 300:
            raise RuntimeError(f"seeding {method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    ids: dict[str, list[Any]] = {k: [] for k in set(BINDINGS.values())}
    call("PUT", "/v1/rules", content=RULES, headers={"content-type": "application/yaml"})
    for bank in ("tvec", "partner", "allowed"):
        call("POST", "/v1/banks", json={"name": bank, "kind": "allow" if bank == "allowed" else "block"})
        ids["banks"].append(bank)
    entry = call("POST", "/v1/banks/tvec/entries",
                 json={"signal_type": "sha256", "value": hashlib.sha256(BANNED.encode()).hexdigest()})
    ids["entries"].append(entry["id"])
    for _ in range(2):
        ids["entries"].append(call("POST", "/v1/banks/partner/entries",
                                   json={"signal_type": "pdq", "value": secrets.token_hex(32)})["id"])
    hook = call("POST", "/v1/webhooks", json={"url": "https://93.184.215.14/hook",  # unreachable: no route out
                                              "event_types": ["item.verdict", "account.strike"]})
    ids["webhooks"].append(hook["id"])
    for n in range(3):
        item = call("POST", "/v1/items", json={"content_id": f"$fuzz{n}:hs", "account_id": f"@fuzz{n}:hs",
                                               "text": BANNED if n < 2 else f"an ordinary post {n}", "keep": True})
        ids["items"].append(item["id"])
        ids["content_ids"].append(item["content_id"])
        ids["accounts"].append(item["account_id"])
    appeal = call("POST", "/v1/appeals", json={"item_id": ids["items"][0], "statement": "it was news"})
    ids["appeals"].append(appeal["id"])
    deliveries = call("GET", f"/v1/webhooks/{hook['id']}/deliveries")
    ids["deliveries"].extend(d["id"] for d in deliveries)
    return ids


def config_file(ids: dict[str, list[Any]], path: Path) -> Path:
    """A ``schemathesis.toml`` binding the seeded ids to the parameters that name them."""
    lines = ["[dictionaries]"]
    lines += [f"{name} = {{ values = {json.dumps(values)} }}" for name, values in sorted(ids.items()) if values]
    lines += ["", "[parameters]"]
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}'
              for key, name in BINDINGS.items() if ids.get(name)]
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis_command(base: str, key: str, args: argparse.Namespace, report: Path,
                         config: Path) -> list[str]:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    cmd = [exe, "--config-file", str(config), "run", f"{base}/openapi.json", "--checks", CHECKS,
           "--phases", args.phases,
           "--header", f"Authorization: Bearer {key}", "--max-examples", str(args.max_examples),
           "--workers", str(args.workers), "--request-timeout", "60", "--no-shrink",
           "--suppress-health-check", "all", "--report", "junit", "--report-junit-path", str(report),
           "--output-truncate", "true"]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    for op in args.include or []:
        cmd += ["--include-path-regex", op]
    return cmd


def run(args: argparse.Namespace) -> int:
    if not in_private_network():
        raise SystemExit("refusing to fuzz outside a private network namespace (run through main())")
    with tempfile.TemporaryDirectory(prefix="seawall-fuzz-") as tmp:
        data_dir = Path(tmp) / "data"
        with database(args.database, data_dir) as db_env:
            env = seawall_env(data_dir, SEAWALL_LOG_LEVEL="warning", **db_env)
            key = cli(["apikey", "create", "--role", "admin", "--name", "fuzz"], env).strip().splitlines()[-1]
            with running_server(env) as base:
                config = config_file(seed(base, key), Path(tmp) / "schemathesis.toml")
                report = Path(args.report).resolve() if args.report else Path(tmp) / "junit.xml"
                # run in the temporary directory: schemathesis keeps a crash cache in its working directory
                proc = subprocess.run(schemathesis_command(base, key, args, report, config), env=env, cwd=tmp,
                                      timeout=args.timeout)
                return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--phases", default=PHASES)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--include", action="append", help="only paths matching this regex (repeatable)")
    parser.add_argument("--report", help="where to write the JUnit report")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        return run(args)
    # re-run in a new network namespace where only loopback is up
    inner = [sys.executable, "-m", "tests.fuzz_api", "--inside", *(argv if argv is not None else sys.argv[1:])]
    script = 'ip link set lo up && exec "$@"'
    # root may create the namespace directly; anyone else through a user namespace of their own
    userns = [] if os.geteuid() == 0 else ["--map-root-user"]
    return subprocess.run(["unshare", "--net", *userns, "sh", "-c", script, "sh", *inner]).returncode


if __name__ == "__main__":
    sys.exit(main())
