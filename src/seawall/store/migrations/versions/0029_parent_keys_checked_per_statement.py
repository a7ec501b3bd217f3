"""PostgreSQL: an entry's bank and a provenance row's entry and source checked once per statement, not per row.

A foreign key is checked by a trigger per inserted row: a query of the parent table, run through SPI,
that also locks the parent row. An initial sync inserts millions of entries into one bank and as many
provenance rows, each of a new entry and of one source, so it ran three such checks for each entry: about
a third of the database's work on a group of new entries, measured on a bank of two million.

Here those three keys (``bank_entries.bank_id`` → ``banks``, ``bank_entry_sources.source_id`` →
``sources`` and ``bank_entry_sources.entry_id`` → ``bank_entries``) are kept by triggers with the same
guarantees, run once per statement:

* insert into the child: the parents of the statement's new rows (its transition table) are looked up
  with one query and locked ``FOR KEY SHARE``, as the foreign key's own check locks them, and a missing one
  is a ``foreign_key_violation``. The lock makes a concurrent delete of the parent wait for this
  transaction, and a parent already deleted by a committed transaction is not found. A bank or a source
  is looked up once however many rows name it. Entries are looked up with one join over the range of ids
  the rows span; those this transaction wrote itself (``tx_id``) are not locked, since no other
  transaction sees them, so none can delete them, before this one commits.
* update of the child's key (a row trigger that fires only when the key changes): the same check for it.
* delete of a parent: its children are deleted in the same statement (``ON DELETE CASCADE``). The delete
  runs after any insert holding the parent's lock has committed, and in READ COMMITTED it sees those rows.
  In REPEATABLE READ or SERIALIZABLE it would not, where the foreign key's cascade reports a serialization
  failure instead; Seawall deletes in READ COMMITTED only, so a delete at a stricter level is refused.
* update of a parent's id while children refer to it, or a TRUNCATE of a parent that leaves children
  behind, is refused, as the foreign key refuses it.

SQLite keeps all its foreign keys: nothing to do there.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 12:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (constraint name, child table, child column, parent table): each kept by the triggers below.
KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("bank_entries_bank_id_fkey", "bank_entries", "bank_id", "banks"),
    ("bank_entry_sources_source_id_fkey", "bank_entry_sources", "source_id", "sources"),
    ("bank_entry_sources_entry_id_fkey", "bank_entry_sources", "entry_id", "bank_entries"),
)


def _few_parents(column: str, parent: str, violation: str) -> str:
    """Body of the insert check of a key with few parents (a bank, a source): each distinct one of the
    statement's rows looked up and locked once."""
    return f"""
        DECLARE ids bigint[]; found bigint;
        BEGIN
          ids := ARRAY(SELECT DISTINCT {column} FROM seawall_new WHERE {column} IS NOT NULL);
          SELECT count(*) INTO found FROM (SELECT 1 FROM {parent} p WHERE p.id = ANY(ids) FOR KEY SHARE OF p) x;
          IF found < cardinality(ids) THEN {violation}; END IF;
          RETURN NULL;
        END"""


def _entries(column: str, parent: str, violation: str) -> str:
    """Body of the insert check of provenance rows' entries: all looked up with one join over the id range
    they span (a group's new entries are consecutive ids, read in order), and only the entries other
    transactions wrote (``tx_id``) are locked. An entry this transaction wrote is seen by no other one until
    it commits, so none can delete it meanwhile: a sync's new entries need no lock."""
    return f"""
        DECLARE wanted bigint; lo bigint; hi bigint; found bigint; others bigint; locked bigint;
        BEGIN
          SELECT count(*), min({column}), max({column}) INTO wanted, lo, hi FROM seawall_new WHERE {column} IS NOT NULL;
          IF wanted = 0 THEN RETURN NULL; END IF;
          SELECT count(*), count(DISTINCT p.id) FILTER (WHERE p.tx_id IS DISTINCT FROM pg_current_xact_id())
            INTO found, others FROM seawall_new n JOIN {parent} p ON p.id = n.{column} WHERE p.id BETWEEN lo AND hi;
          IF found < wanted THEN {violation}; END IF;
          IF others > 0 THEN
            SELECT count(*) INTO locked FROM (SELECT 1 FROM {parent} p WHERE p.id IN (SELECT {column} FROM seawall_new)
              AND p.tx_id IS DISTINCT FROM pg_current_xact_id() FOR KEY SHARE OF p) x;
            IF locked < others THEN {violation}; END IF;
          END IF;
          RETURN NULL;
        END"""


#: Body of each key's insert check.
_INSERTED = {
    "bank_entries_bank_id_fkey": _few_parents,
    "bank_entry_sources_source_id_fkey": _few_parents,
    "bank_entry_sources_entry_id_fkey": _entries,
}


def _create(name: str, child: str, column: str, parent: str) -> list[str]:
    fn = f"seawall_{name}"
    violation = (
        f'RAISE EXCEPTION \'insert or update on table "{child}" violates foreign key constraint '
        f"\"{name}\"' USING ERRCODE = 'foreign_key_violation'"
    )
    return [
        f"CREATE FUNCTION {fn}_ins() RETURNS trigger LANGUAGE plpgsql AS $$"
        f"{_INSERTED[name](column, parent, violation)} $$",
        f"""CREATE FUNCTION {fn}_upd() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.{column} IS NOT NULL THEN
            PERFORM 1 FROM {parent} p WHERE p.id = NEW.{column} FOR KEY SHARE OF p;
            IF NOT FOUND THEN {violation}; END IF;
          END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION {fn}_del() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM seawall_old) THEN RETURN NULL; END IF;
          IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'delete from table "{parent}" must run in READ COMMITTED (its rows in "{child}" are '
              'deleted with it)' USING ERRCODE = 'serialization_failure';
          END IF;
          DELETE FROM {child} c WHERE c.{column} IN (SELECT id FROM seawall_old);
          RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION {fn}_key() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM {child} c WHERE c.{column} = OLD.id) THEN
            RAISE EXCEPTION 'update on table "{parent}" violates foreign key constraint "{name}" on table "{child}"'
              USING ERRCODE = 'foreign_key_violation';
          END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION {fn}_trunc() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM {child}) THEN
            RAISE EXCEPTION 'cannot truncate "{parent}": table "{child}" refers to it (constraint "{name}")'
              USING ERRCODE = 'feature_not_supported';
          END IF;
          RETURN NULL;
        END $$""",
        f"ALTER TABLE {child} DROP CONSTRAINT {name}",
        f"CREATE TRIGGER {name}_ins AFTER INSERT ON {child} REFERENCING NEW TABLE AS seawall_new "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}_ins()",
        f"CREATE TRIGGER {name}_upd AFTER UPDATE OF {column} ON {child} FOR EACH ROW "
        f"WHEN (OLD.{column} IS DISTINCT FROM NEW.{column}) EXECUTE FUNCTION {fn}_upd()",
        f"CREATE TRIGGER {name}_del AFTER DELETE ON {parent} REFERENCING OLD TABLE AS seawall_old "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}_del()",
        f"CREATE TRIGGER {name}_key AFTER UPDATE OF id ON {parent} FOR EACH ROW "
        f"WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION {fn}_key()",
        f"CREATE TRIGGER {name}_trunc AFTER TRUNCATE ON {parent} FOR EACH STATEMENT EXECUTE FUNCTION {fn}_trunc()",
    ]


def _drop(name: str, child: str, column: str, parent: str) -> list[str]:
    fn = f"seawall_{name}"
    return [
        f"DROP TRIGGER IF EXISTS {name}_ins ON {child}",
        f"DROP TRIGGER IF EXISTS {name}_upd ON {child}",
        f"DROP TRIGGER IF EXISTS {name}_del ON {parent}",
        f"DROP TRIGGER IF EXISTS {name}_key ON {parent}",
        f"DROP TRIGGER IF EXISTS {name}_trunc ON {parent}",
        *(f"DROP FUNCTION IF EXISTS {fn}_{part}()" for part in ("ins", "upd", "del", "key", "trunc")),
        f"ALTER TABLE {child} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {parent}(id) ON DELETE CASCADE",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for key in KEYS:
        for statement in _create(*key):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for key in KEYS:
        for statement in _drop(*key):
            op.execute(statement)
