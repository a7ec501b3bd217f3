"""The newest migration, read from the migration files' text, and the query that says where a store is.

Why: deciding whether a store needs upgrading must not import Alembic or SQLAlchemy (about half a
second together); both :mod:`seawall.store.db` and the driver-only reads of :mod:`seawall.store.light`
use this one reading, so they agree on what "at head" means.
"""

from __future__ import annotations

import re
from importlib import resources

#: The revision(s) a store's schema is at (Alembic's own table).
VERSION_QUERY = "SELECT version_num FROM alembic_version"

_REVISION = re.compile(r'^revision: str = "([^"]+)"', re.M)
_DOWN = re.compile(r'^down_revision: str \| None = "([^"]+)"', re.M)


def head_revisions() -> set[str]:
    """Revisions no other migration builds on, read from the migration files' text (no Alembic import)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in resources.files("seawall.store").joinpath("migrations", "versions").iterdir():
        if not path.name.endswith(".py") or path.name.startswith("__"):
            continue
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev:
            revisions.add(rev.group(1))
        if down:
            parents.add(down.group(1))
    return revisions - parents


def is_head(current: set[str]) -> bool:
    """Whether a store whose version table holds ``current`` is at the single newest migration."""
    heads = head_revisions()
    return len(heads) == 1 and current == heads
