"""Light commands (``--help``, ``bank list``, ``apikey create``): what they import, and that their driver-only
path (no SQLAlchemy, no Typer parsing) reads and writes exactly what the full services do.

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
import typer
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, text
from sqlalchemy.engine import make_url

from seawall import cli
from seawall.api.serialize import bank_dict
from seawall.banks.service import BankService
from seawall.cli_argv import light_command
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store import light, tables
from seawall.store.db import upgrade
from seawall.store.driver import driver_target
from seawall.store_location import store_location

from .cli_runner import run_cli

#: Modules a light command must never load: each is the import cost of a heavier command.
HEAVY = (
    "pydantic_settings", "seawall.config", "sqlalchemy.orm", "seawall.store.tables", "alembic", "argon2",
    "fastapi", "starlette", "uvicorn", "numpy", "numba", "PIL", "seawall.plugins", "seawall.engine",
    "seawall.composition", "seawall.banks", "seawall.apikeys", "seawall.api",
)
#: Also never loaded by ``bank list`` and ``apikey create``: they use the database driver and skip Typer's parsing.
NOT_IN_LIGHT = ("sqlalchemy", "pydantic", "pydantic_core", "typer._adapters")


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


def _light_misses(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in NOT_IN_LIGHT))


def _check_light_commands(env: dict[str, str]) -> None:
    assert run_cli(["bank", "list"], env).returncode == 0  # the store exists and is at the newest schema
    help_modules = _loaded(["--help"], env)
    assert not _heavy(help_modules) and "sqlalchemy" not in help_modules
    listing = _loaded(["bank", "list"], env)
    assert "seawall.store.light" in listing  # the check below is about the command that ran
    assert not _heavy(listing), _heavy(listing)
    assert not _light_misses(listing), _light_misses(listing)
    created = _loaded(["apikey", "create", "--role", "submitter", "--name", "light"], env)
    assert "seawall.apikey_tokens" in created
    assert not _heavy(created), _heavy(created)
    assert not _light_misses(created), _light_misses(created)


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
    assert "pydantic" in _light_misses(_loaded(["bank", "list", "--help"], env))  # Typer's parsing
    slow_url = f"sqlite:///{tmp_path / 'data' / 'seawall.db'}?timeout=5"  # left to SQLAlchemy
    leaving = _loaded(["bank", "list"], _env(tmp_path / "data", slow_url))
    assert {"sqlalchemy", "pydantic"} <= set(_light_misses(leaving))


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


def _kind(column_type: object) -> str:
    """What the driver path must convert for an ORM column type (the kinds :mod:`seawall.store.light` names)."""
    for types, kind in (((JSON,), "json"), ((Boolean,), "bool"), ((DateTime,), "time"), ((Integer,), "int"),
                        ((String, Text), "text")):
        if isinstance(column_type, types):
            return kind
    raise AssertionError(column_type)


@pytest.mark.parametrize(("name", "kinds"),
                         [("banks", light.BANK_COLUMN_KINDS), ("api_keys", light.API_KEY_COLUMN_KINDS)])
def test_light_columns_are_the_orm_columns(name: str, kinds: dict[str, str]) -> None:
    """Every column the driver path reads or writes is the ORM's, converted as its type says; times are zoned."""
    orm = tables.Base.metadata.tables[name]
    for col, kind in kinds.items():
        assert _kind(orm.c[col].type) == kind, col
        if kind == "time":
            assert orm.c[col].type.timezone, col  # type: ignore[attr-defined]
    assert list(light.BankColumns._fields) == list(light.BANK_COLUMN_KINDS)
    if name == "api_keys":  # an insert names every column the ORM would fill
        assert {c.name for c in orm.columns if not c.nullable and not c.primary_key} == set(kinds)


URLS = [
    "postgresql://a/b",
    "postgresql+psycopg://u:p%40ss@db.example:5433/seawall?sslmode=require",
    "postgresql+psycopg://postgres@127.0.0.1:5432/seawall",
    "postgresql+psycopg:///db?host=/var/run/postgresql",
    "postgresql+psycopg://[::1]:5432/x",
    "postgresql+psycopg://U@Host.Example/d%2Fx?application_name=a%20b",
    "postgresql+psycopg://",
    "sqlite:///relative/seawall.db",
    "sqlite:////abs/with%20space/seawall.db",
]


@pytest.mark.parametrize("url", URLS)
def test_driver_connects_as_sqlalchemy_would(url: str) -> None:
    """The driver gets the same connection arguments SQLAlchemy's dialect would give it."""
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    target = driver_target(url)
    assert target is not None
    if target.dialect == "sqlite":
        assert [target.sqlite_path] == args
    else:
        assert target.pg_args == kwargs and args in ([], [""])


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x.db?mode=ro&uri=true",
                                 "sqlite:///x.db?timeout=5", "postgresql+psycopg2://u@h/d", "mysql://u@h/d",
                                 "postgresql+psycopg://h/d?host=a&host=b", "not a url"])
def test_driver_leaves_other_urls_to_sqlalchemy(url: str) -> None:
    assert driver_target(url) is None


ARGVS = [
    ["bank", "list"], ["bank", "list", "--json"],
    ["apikey", "create", "--role", "submitter"], ["apikey", "create", "--role=admin", "--name", "ops bot"],
    ["apikey", "create", "--name=", "--role", "reviewer"], ["apikey", "create", "--role", "god"],
    ["apikey", "create", "--name", "x=y", "--role=a=b"],
]


@pytest.mark.parametrize("argv", ARGVS)
def test_light_argv_gives_what_typer_gives(argv: list[str]) -> None:
    """For every command line the light reading recognises, Typer would call the command with the same values."""
    found = light_command(argv, {})
    assert found is not None
    group = typer.main.get_command(cli.app)
    command = group.commands[argv[0]].commands[argv[1]]  # type: ignore[attr-defined]
    with command.make_context(argv[1], argv[2:]) as ctx:
        assert (found[0], found[1]) == (" ".join(argv[:2]), ctx.params)


@pytest.mark.parametrize("argv", [
    ["bank", "list", "--help"], ["bank", "list", "--json", "--json"], ["bank", "list", "x"], ["bank"],
    ["apikey", "create"], ["apikey", "create", "--name", "x"], ["apikey", "create", "--role"],
    ["apikey", "create", "--role", "--name"], ["apikey", "create", "--role", "a", "--role", "b"],
    ["apikey", "create", "--role", "a", "extra"], ["apikey", "create", "--rol", "a"], ["apikey", "list"], [],
])
def test_light_argv_leaves_everything_else_to_typer(argv: list[str]) -> None:
    assert light_command(argv, {}) is None
    assert light_command(["bank", "list"], {"_SEAWALL_COMPLETE": "bash_complete"}) is None


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


def _process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seawall", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow  # fresh interpreters; `make test` runs it
def test_the_light_entry_point_answers_as_typer_does(settings: Settings, engine: Engine) -> None:
    """``seawall bank list`` and ``apikey create`` as processes (skipping Typer) print what Typer's run prints."""
    engine.banks.create("zeta", description="last", labels=["behaviour:recruitment"], thresholds={"pdq": 20})
    engine.import_entries("zeta", "text", [f"pdq {i:064x}" for i in range(1, 4)], added_by="test")
    env = _cli_env(settings)
    for args in (["bank", "list", "--json"], ["bank", "list"]):
        proc, typer_run = _process(args, env), run_cli(args, env)
        assert (proc.returncode, proc.stdout) == (0, typer_run.stdout)
    refused, typer_refused = _process(["apikey", "create", "--role=god"], env), run_cli(["apikey", "create",
                                                                                        "--role=god"], env)
    assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", typer_refused.stderr)
    made = _process(["apikey", "create", "--role", "admin", "--name", "proc"], env)
    assert made.returncode == 0 and made.stderr.startswith("created admin key ")
    assert engine.api_keys.authenticate(made.stdout.strip()).name == "proc"


def test_a_url_the_driver_leaves_goes_through_sqlalchemy(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """A database URL with driver options is read and written by the ORM services, with the same output."""
    if settings.effective_database_url.startswith("sqlite"):
        url = settings.effective_database_url + "?timeout=5"
    else:
        url = settings.effective_database_url + "?application_name=seawall&connect_timeout=5"
        url = url.replace("?", "?host=127.0.0.1&host=127.0.0.1&", 1)  # two hosts: SQLAlchemy's to join
    assert driver_target(url) is None
    engine.banks.create("alpha", kind="allow")
    env = _env(tmp_path / "data", url)
    listed = run_cli(["bank", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert [b["name"] for b in json.loads(listed.stdout)] == ["alpha"]
    made = run_cli(["apikey", "create", "--role", "reviewer", "--name", "via-orm"], env)
    assert made.returncode == 0, made.stderr
    assert engine.api_keys.authenticate(made.stdout.strip().splitlines()[-1]).name == "via-orm"


@pytest.mark.postgres
def test_an_unreachable_store_fails_as_before(tmp_path: Path) -> None:
    """The driver cannot connect: SQLAlchemy meets the failure and reports it as it always did."""
    env = _env(tmp_path / "data", "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    proc = run_cli(["bank", "list"], env)
    assert proc.returncode == 1 and "sqlalchemy.exc.OperationalError" in proc.stderr


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
    assert version == _newest_migration()


def _newest_migration() -> str:
    """The revision of the highest-numbered migration file: what an upgraded store must be at."""
    import seawall.store.migrations as migrations

    versions = Path(migrations.__file__).parent / "versions"
    return max(p.name.split("_", 1)[0] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
