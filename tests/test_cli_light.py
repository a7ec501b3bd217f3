"""Light commands (``--help``, ``bank list``, ``apikey create``): what they import, and that their Core-only
path reads and writes exactly what the full services do.

The import checks run each command as its own process under ``python -X importtime`` and read the modules
it loaded: a deterministic check, not a timing (the time is measured by benchmarks/bench_cli_start.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from seawall.api.serialize import bank_dict
from seawall.banks.service import BankService
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store import light, tables
from seawall.store.db import upgrade
from seawall.store_location import store_location

from .cli_runner import run_cli

#: Modules a light command must never load: each is the import cost of a heavier command.
HEAVY = (
    "pydantic_settings", "seawall.config", "sqlalchemy.orm", "seawall.store.tables", "alembic", "argon2",
    "fastapi", "starlette", "uvicorn", "numpy", "numba", "PIL", "seawall.plugins", "seawall.engine",
    "seawall.composition", "seawall.banks", "seawall.apikeys", "seawall.api",
)


def _env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SEAWALL_")}
    env["SEAWALL_DATA_DIR"] = str(data_dir)
    if database_url:
        env["SEAWALL_DATABASE_URL"] = database_url
    return env


def _loaded(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules ``seawall ARGS`` imported, run as a fresh process."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "seawall", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {line.rpartition("|")[2].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _check_light_commands(env: dict[str, str]) -> None:
    assert run_cli(["bank", "list"], env).returncode == 0  # the store exists and is at the newest schema
    help_modules = _loaded(["--help"], env)
    assert not _heavy(help_modules) and "sqlalchemy" not in help_modules
    listing = _loaded(["bank", "list"], env)
    assert "seawall.store.light" in listing  # the check below is about the command that ran
    assert not _heavy(listing), _heavy(listing)
    created = _loaded(["apikey", "create", "--role", "submitter", "--name", "light"], env)
    assert "seawall.apikey_tokens" in created
    assert not _heavy(created), _heavy(created)


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
def test_light_commands_import_no_heavy_module_sqlite(tmp_path: Path) -> None:
    _check_light_commands(_env(tmp_path / "data"))


@pytest.mark.postgres
def test_light_commands_import_no_heavy_module_postgres(tmp_path: Path, pg_url: str) -> None:
    _check_light_commands(_env(tmp_path / "data", pg_url))


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
def test_the_heavy_list_catches_a_heavy_command(tmp_path: Path) -> None:
    """The check can fail: ``bank create`` builds the engine and loads what light commands must not."""
    env = _env(tmp_path / "data")
    assert run_cli(["bank", "list"], env).returncode == 0
    heavy = _heavy(_loaded(["bank", "create", "heavy"], env))
    assert {"seawall.config", "sqlalchemy.orm", "seawall.store.tables", "seawall.plugins"} <= set(heavy)


ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"SEAWALL_DATA_DIR": "/srv/seawall"},
    {"SEAWALL_DATA_DIR": "relative/dir"},
    {"SEAWALL_DATA_DIR": ""},
    {"SEAWALL_DATA_DIR": "  spaced "},
    {"seawall_data_dir": "/lower/case"},
    {"Seawall_Data_Dir": "/first", "SEAWALL_DATA_DIR": "/second"},
    {"SEAWALL_DATABASE_URL": "postgresql+psycopg://u:p%40ss@db.example:5433/seawall?sslmode=require"},
    {"SEAWALL_DATABASE_URL": ""},
    {"SEAWALL_DATABASE_URL": "null"},
    {"seawall_database_url": "sqlite:////tmp/other.db", "SEAWALL_DATA_DIR": "/x"},
    {"SEAWALL_DATA_DIRS": "/not/this", "XSEAWALL_DATA_DIR": "/nor/this"},
]


@pytest.mark.parametrize("extra", ENVIRONMENTS)
def test_store_location_is_what_settings_says(extra: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """The light reading of the environment gives the data directory and URL ``Settings()`` gives."""
    monkeypatch.chdir(tmp_path)  # relative data directories resolve the same way in both
    for key in list(os.environ):
        if "SEAWALL_" in key.upper():
            monkeypatch.delenv(key)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    where = store_location()
    assert (where.data_dir, where.database_url) == (settings.data_dir, settings.effective_database_url)
    assert store_location(dict(os.environ)) == where


@pytest.mark.parametrize("name", ["banks", "bank_entries", "api_keys"])
def test_light_tables_repeat_the_orm_columns(name: str) -> None:
    """Every column the Core tables declare is the ORM's column: same name, type, length, time zone, nullability."""
    orm = tables.Base.metadata.tables[name]
    for col in light.metadata.tables[name].columns:
        real = orm.c[col.name]
        assert col.nullable == real.nullable, col.name
        assert col.type.compile(dialect=sqlite.dialect()) == real.type.compile(dialect=sqlite.dialect()), col.name
        light_pg, real_pg = (t.compile(dialect=postgresql.dialect()) for t in (col.type, real.type))
        assert light_pg == real_pg or (light_pg, real_pg) == ("JSON", "JSONB"), col.name
        assert getattr(col.type, "timezone", None) == getattr(real.type, "timezone", None), col.name


def _cli_env(settings: Settings) -> dict[str, str]:
    env = _env(settings.data_dir, settings.database_url)
    env["COLUMNS"] = "200"
    return env


def test_bank_list_reads_what_the_bank_service_reads(settings: Settings, engine: Engine) -> None:
    """``bank list`` (Core) and the bank service (ORM) list the same banks with the same counts and times."""
    engine.banks.create("zeta", description="last", labels=["behaviour:recruitment"], thresholds={"pdq": 20})
    engine.banks.create("alpha", kind="allow", default_action="review")
    engine.banks.create("empty")
    engine.banks.update("empty", {"enabled": False})
    engine.import_entries("zeta", "text", [f"pdq {i:064x}" for i in range(1, 8)], added_by="test")
    engine.import_entries("alpha", "text", [f"pdq {i:064x}" for i in range(100, 103)], added_by="test")
    service = BankService(engine.db, engine.registry)
    expected = [bank_dict(b) for b in service.list_banks()]
    assert [b["entry_count"] for b in expected] == [3, 0, 7]
    proc = run_cli(["bank", "list", "--json"], _cli_env(settings))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected
    table = run_cli(["bank", "list"], _cli_env(settings)).stdout
    assert "zeta" in table and "behaviour:recruitment" in table and " no " in table


def test_apikey_create_stores_what_the_key_service_stores(settings: Settings, engine: Engine) -> None:
    """A key made by ``apikey create`` (Core) authenticates, and its row reads like one the ORM wrote."""
    proc = run_cli(["apikey", "create", "--role", "reviewer", "--name", "core"], _cli_env(settings))
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip().splitlines()[-1]
    principal = engine.api_keys.authenticate(token)
    assert (principal.role, principal.name) == ("reviewer", "core")
    engine.api_keys.create("admin", "orm")
    listed = {k["name"]: k for k in engine.api_keys.list_keys()}
    core, orm = listed["core"], listed["orm"]
    assert core["key_id"] == principal.key_id and not core["revoked"]
    assert core["created_at"] <= orm["created_at"]  # type: ignore[operator]
    with engine.db.session() as s:  # stored alike: same type and text form (SQLite keeps datetimes as text)
        raw = {name: at for name, at in s.execute(text("SELECT name, created_at FROM api_keys"))}
    assert type(raw["core"]) is type(raw["orm"]) and len(str(raw["core"])) == len(str(raw["orm"]))
    refused = run_cli(["apikey", "create", "--role", "god"], _cli_env(settings))
    assert refused.returncode == 2 and "invalid_role" in refused.stderr


def test_bank_list_brings_an_old_store_up_to_date(tmp_path: Path) -> None:
    """A store behind the newest migration is upgraded before the light read (as the full commands do)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'seawall.db'}"
    upgrade(url, "0026")
    proc = run_cli(["bank", "list", "--json"], _env(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    with sqlite3.connect(data_dir / "seawall.db") as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    conn.close()
    assert version == "0027"
