"""Engine and session factory for the configured database, plus running migrations.

SQLite gets WAL mode and a busy timeout so the API and a CLI import can share the file; foreign keys
are switched on because SQLite leaves them off by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from seawall.store.driver import SQLITE_PRAGMAS, SQLITE_TIMEOUT_S
from seawall.store.schema_head import VERSION_QUERY, is_head

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.orm import Session

    from seawall.store.wal_checkpoints import WalCheckpointer


#: Errors that say the store did not answer (restarting, connections dropped, pool exhausted), not that a
#: statement was wrong: the transaction was rolled back and the same work can be tried again shortly.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError,
)


def make_engine(url: str, options: dict[str, bool] | None = None) -> Engine:
    """Create an engine with per-dialect settings that make concurrent use safe.

    ``options`` is read each time SQLite opens a connection: with ``"background_checkpoints"`` true the
    connection leaves WAL checkpoints to :class:`seawall.store.wal_checkpoints.WalCheckpointer`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_TIMEOUT_S})
        flags = options if options is not None else {}

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in SQLITE_PRAGMAS:
                cur.execute(pragma)
            if flags.get("background_checkpoints"):
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    script_location = str(resources.files("seawall.store").joinpath("migrations"))
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def schema_is_current(engine: Engine) -> bool:
    """Whether the store's schema is at the newest migration (False for a store without one yet)."""
    try:
        with engine.connect() as conn:
            current = {str(r[0]) for r in conn.execute(text(VERSION_QUERY))}
    except sa_exc.DBAPIError:
        current = set()  # a new store: no version table yet
    return is_head(current)


def ensure_schema(url: str, engine: Engine | None = None) -> None:
    """Upgrade only when the store is behind the newest migration.

    Importing and running Alembic costs about half a second; a command that reads a few rows (``bank
    list``) or a restarting server should not pay it when the schema is already current. ``engine``, if
    given, is the caller's engine for ``url``, used for the check instead of a throwaway one.
    """
    db = engine if engine is not None else make_engine(url)
    try:
        current = schema_is_current(db)
    finally:
        if engine is None:
            db.dispose()
    if not current:
        upgrade(url)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        from sqlalchemy.orm import sessionmaker  # here, not at import: light commands use the engine alone

        self._options: dict[str, bool] = {}
        self.engine = make_engine(url, self._options)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.checkpointer: WalCheckpointer | None = None

    def checkpoint_in_background(self, interval: float) -> WalCheckpointer | None:
        """SQLite file stores: take WAL checkpoints out of this process's commits and run them in a
        thread every ``interval`` seconds (see :mod:`seawall.store.wal_checkpoints`). None elsewhere."""
        path = self.engine.url.database
        if self.dialect != "sqlite" or not path or path == ":memory:" or self.checkpointer is not None:
            return self.checkpointer
        from seawall.store.wal_checkpoints import WalCheckpointer

        self._options["background_checkpoints"] = True
        self.engine.dispose()  # pooled connections reopen with the automatic checkpoint off
        self.checkpointer = WalCheckpointer(path, interval)
        self.checkpointer.start()
        return self.checkpointer

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends normally, rolled back on any error."""
        with self.sessions() as s, s.begin():
            yield s

    def commit_horizon(self) -> int | None:
        """PostgreSQL: every transaction with an id below this has finished (``pg_snapshot_xmin``).

        Sequence ids are handed out at insert, not at commit, so feeds that follow new rows by id use
        this to pick up rows that committed after a newer id was seen. None on SQLite, which commits
        writers in order.
        """
        if self.dialect != "postgresql":
            return None
        with self.session() as s:
            return int(s.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")) or 0)

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
            self.checkpointer = None
        self.engine.dispose()
