"""Stored, versioned rules: validate before saving, keep every version, serve the newest from memory.

Each save that changes the rules is a new version; the rules in force are the newest stored version, or
the built-in defaults (version 0) until an operator stores their own. A refused save changes nothing, and
so does a save of exactly the rules in force (a retried or repeated ``PUT``): it answers the version in
force, so the history lists changes, not requests. Every
process keeps the parsed rules in memory and picks up a newer version (saved by another process)
when the engine refreshes, within a fraction of a second on a server.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update

from seawall.errors import NotFound
from seawall.plugins import Registry
from seawall.rules.defaults import DEFAULT_RULES
from seawall.rules.evaluate import Outcome, evaluate
from seawall.rules.facts import Facts
from seawall.rules.language import ActionKind, RuleSet, parse_rules
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import RuleSetRow, RuntimeFlagRow, utcnow
from seawall.store.upsert import insert_unless_exists
from seawall.store.write_lock import lock_table_for_append

CRISIS_FLAG = "crisis_mode"
#: What :meth:`RuleService.refresh` reads in every server process four times a second, built once and run on a
#: bare connection: building the statements and running them through a session held the GIL for longer than the
#: database took to answer, and a lookup arriving meanwhile waited.
_NEWEST_RULES = select(func.max(RuleSetRow.id))
_CRISIS = select(RuntimeFlagRow.value).where(RuntimeFlagRow.name == CRISIS_FLAG)


class RuleService:
    def __init__(self, db: Database, registry: Registry, *, crisis_default: bool = False) -> None:
        self.db = db
        self.registry = registry
        self.crisis_default = crisis_default
        self._lock = threading.Lock()
        self._current = self._defaults()
        self._crisis_flag: bool | None = None
        self.refresh()

    # --- language --------------------------------------------------------------------------------
    @property
    def kinds(self) -> Mapping[str, ActionKind]:
        return self.registry.action_types

    def verdict_of(self) -> dict[str, str | None]:
        return {name: a.verdict for name, a in self.registry.action_types.items()}

    def parse(self, source: str) -> RuleSet:
        """Check rules without saving them (raises ``RulesInvalid`` with line-numbered errors)."""
        return parse_rules(source, self.kinds)

    def _defaults(self) -> RuleSet:
        rules = parse_rules(DEFAULT_RULES, self.kinds)
        rules.created_by = "built-in"
        return rules

    # --- versions --------------------------------------------------------------------------------
    def current(self) -> RuleSet:
        return self._current

    def refresh(self) -> bool:
        """Load a newer stored version and the crisis flag; True if the rules changed."""
        with self.db.engine.connect() as conn:
            newest = conn.scalar(_NEWEST_RULES)
            flag = conn.scalar(_CRISIS)
        self._crisis_flag = bool(flag) if flag is not None else None
        if newest is None or newest == self._current.version:
            return False
        with self.db.session() as s:
            row = s.get(RuleSetRow, newest)
            assert row is not None
            rules = self._from_row(row)
        with self._lock:
            if rules.version > self._current.version:
                self._current = rules
        return True

    def _from_row(self, row: RuleSetRow) -> RuleSet:
        rules = parse_rules(row.source, self.kinds)
        rules.version = row.id
        rules.created_by = row.created_by
        created = aware(row.created_at)
        rules.created_at = created.isoformat() if created else None
        rules.extra = {"note": row.note}
        return rules

    def save(self, source: str, *, created_by: str, note: str = "") -> RuleSet:
        """Validate, then store as a new version and put it in force; invalid rules change nothing, and a
        source identical to the newest version's stores nothing and returns that version."""
        self.parse(source)
        with self.db.session() as s:
            # copies of one PUT sent at once: each must see the version the first one stored
            lock_table_for_append(s, RuleSetRow.__tablename__)
            newest = s.scalar(select(RuleSetRow).order_by(RuleSetRow.id.desc()).limit(1))
            if newest is not None and newest.source == source:
                stored = self._from_row(newest)
            else:
                row = RuleSetRow(source=source, created_by=created_by, note=note, created_at=utcnow())
                s.add(row)
                s.flush()
                stored = self._from_row(row)
        with self._lock:
            if stored.version > self._current.version:
                self._current = stored
        return stored

    def version(self, version: int) -> RuleSet:
        if version == 0:
            return self._defaults()
        with self.db.session() as s:
            row = s.get(RuleSetRow, version)
            if row is None:
                raise NotFound(f"no rules version {version}", code="rules_version_not_found")
            return self._from_row(row)

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(select(RuleSetRow).order_by(RuleSetRow.id.desc()).limit(limit)).all()
            return [{"version": r.id, "created_by": r.created_by, "note": r.note,
                     "created_at": (aware(r.created_at) or utcnow()).isoformat()} for r in rows]

    # --- crisis mode -----------------------------------------------------------------------------
    def crisis_mode(self) -> bool:
        """On when the operator switched it on at run time, else the configured default."""
        return self._crisis_flag if self._crisis_flag is not None else self.crisis_default

    def set_crisis_mode(self, enabled: bool, *, updated_by: str) -> bool:
        """Store the switch for every node. The store's first switch inserts the flag's row; copies of it sent
        at once must not both insert (the loser failed on the primary key), so the database decides."""
        values = {"value": enabled, "updated_by": updated_by, "updated_at": utcnow()}
        with self.db.session() as s:
            if insert_unless_exists(s, RuntimeFlagRow, {"name": CRISIS_FLAG, **values}, ["name"]) is None:
                s.execute(update(RuntimeFlagRow).where(RuntimeFlagRow.name == CRISIS_FLAG).values(**values))
        self._crisis_flag = enabled
        return enabled

    # --- evaluation ------------------------------------------------------------------------------
    def evaluate(self, facts: Facts, rules: RuleSet | None = None) -> Outcome:
        return evaluate(rules or self._current, facts, self.verdict_of())


def rules_dict(rules: RuleSet) -> dict[str, Any]:
    """A rule set for API and CLI output: its version, its source and a summary of each rule."""
    return {
        "version": rules.version,
        "created_by": rules.created_by,
        "created_at": rules.created_at,
        "note": rules.extra.get("note", ""),
        "source": rules.source,
        "rules": [{"id": r.id, "line": r.line, "description": r.description, "stop": r.stop,
                   "then": [a.to_dict() for a in r.then]} for r in rules.rules],
    }
