"""Where the store is (``SEAWALL_DATA_DIR``, ``SEAWALL_DATABASE_URL``), read without building ``Settings``.

Why: ``seawall bank list`` and ``seawall apikey create`` need nothing but the database URL, and
importing pydantic-settings and validating every field of :class:`seawall.config.Settings` cost about a
quarter of their start-up. This module reads those two variables the way ``Settings`` does (names
matched case-insensitively, the last of several spellings winning, empty values kept as given) and
owns the defaults, which ``Settings`` takes from here, so the two readings cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "SEAWALL_"
#: Where SQLite, snapshots and media live unless ``SEAWALL_DATA_DIR`` says otherwise.
DEFAULT_DATA_DIR = Path("./seawall-data")


def sqlite_url(data_dir: Path) -> str:
    """The embedded store inside ``data_dir``, used whenever no database URL is configured."""
    return f"sqlite:///{(data_dir / 'seawall.db').resolve()}"


def effective_url(data_dir: Path, database_url: str | None) -> str:
    """The configured database, or the SQLite file inside ``data_dir`` (an empty URL counts as unset)."""
    return database_url if database_url else sqlite_url(data_dir)


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a command finds the store: ``Settings().data_dir`` and ``Settings().effective_database_url``."""

    data_dir: Path
    database_url: str


def _setting(field: str, environ: Mapping[str, str]) -> str | None:
    """``SEAWALL_<FIELD>`` in any letter case; with several spellings set, the last one listed wins."""
    wanted = (ENV_PREFIX + field).lower()
    found: str | None = None
    for key, value in environ.items():
        if key.lower() == wanted:
            found = value
    return found


def store_location(environ: Mapping[str, str] | None = None) -> StoreLocation:
    """The data directory and effective database URL ``Settings()`` would give in this environment."""
    env = os.environ if environ is None else environ
    raw_dir = _setting("data_dir", env)
    data_dir = DEFAULT_DATA_DIR if raw_dir is None else Path(raw_dir)
    return StoreLocation(data_dir, effective_url(data_dir, _setting("database_url", env)))
