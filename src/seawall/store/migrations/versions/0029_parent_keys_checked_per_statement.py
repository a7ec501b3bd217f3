"""PostgreSQL: a bank entry's bank and a provenance row's source are checked once per statement, not per row.

A foreign key is checked by a trigger per inserted row: a query of the parent table, run through SPI,
that also locks the parent row. An initial sync inserts millions of entries into one bank and as many
provenance rows from one source, so it checked and locked the same two parent rows millions of times:
about a third of the database's work on each group of new entries, measured on a bank of two million.

Here those two keys (``bank_entries.bank_id`` → ``banks`` and ``bank_entry_sources.source_id`` →
``sources``) are kept by triggers with the same guarantees, run once per statement:

* insert into the child: the distinct parent ids of the statement's new rows (its transition table) are
  looked up and locked ``FOR KEY SHARE``, as the foreign key's own check locks them, and a missing one is a
  ``foreign_key_violation``. The lock makes a concurrent delete of the parent wait for this transaction,
  and a parent already deleted by a committed transaction is not found.
* update of the child's key (a row trigger that fires only when the key changes): the same check for it.
* delete of a parent: its children are deleted in the same statement (``ON DELETE CASCADE``). The delete
  runs after any insert holding the parent's lock has committed, and in READ COMMITTED it sees those rows.
  In REPEATABLE READ or SERIALIZABLE it would not, where the foreign key's cascade reports a serialization
  failure instead; Seawall deletes in READ COMMITTED only, so a delete at a stricter level is refused.
* update of a parent's id while children refer to it, or a TRUNCATE of a parent that leaves children
  behind, is refused, as the foreign key refuses it.

The provenance row's key to its entry (``bank_entry_sources.entry_id``) stays a foreign key: its parents
are as many as its rows, so a check per statement would do the same look-ups.

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
)


def _create(name: str, child: str, column: str, parent: str) -> list[str]:
    fn = f"seawall_{name}"
    violation = (
        f'RAISE EXCEPTION \'insert or update on table "{child}" violates foreign key constraint '
        f"\"{name}\"' USING ERRCODE = 'foreign_key_violation'"
    )
    return [
        f"""CREATE FUNCTION {fn}_ins() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE ids bigint[]; found bigint;
        BEGIN
          ids := ARRAY(SELECT DISTINCT {column} FROM seawall_new WHERE {column} IS NOT NULL);
          SELECT count(*) INTO found FROM (SELECT 1 FROM {parent} p WHERE p.id = ANY(ids) FOR KEY SHARE OF p) x;
          IF found < cardinality(ids) THEN {violation}; END IF;
          RETURN NULL;
        END $$""",
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
