"""Case tags: each case's matched banks and labels as indexed rows, so the queue filters on them in SQL.

The queue's bank and label filters used to look into every match's JSON label list, a scan of all
matches for each page. A case's tags are written when the case is opened (and when a later match or
a second reason reaches the same item): one row per bank (``bank``), per label (``label``) and per
bank-and-label a match carries (``pair``), so any filter is one key and a case appears once per key.
"bank X and label L" keeps its meaning: a match of bank X that carries L.

Each tag row also carries the case's queue order (priority, created_at) and whether it is undecided,
so a filtered queue page is a walk of one index in queue order, however the filtered cases are spread
through the backlog. :func:`sync_case_tags` keeps those copies in step when a case's priority rises or
it is decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from seawall.models.records import Match
from seawall.store.tables import CaseRow, CaseTagRow

#: Separates bank and label in a ``pair`` tag's value (neither may contain it).
PAIR_SEP = "\x1f"


def pair_value(bank: str, label: str) -> str:
    return f"{bank}{PAIR_SEP}{label}"


def filter_key(bank: str, label: str) -> tuple[str, str]:
    """The one tag (kind, value) a queue filter on ``bank`` and/or ``label`` looks up."""
    if bank and label:
        return "pair", pair_value(bank, label)
    return ("bank", bank) if bank else ("label", label)


def tag_keys(matches: Iterable[Match]) -> set[tuple[str, str]]:
    """(kind, value) tags of these matches: their banks, labels and bank-and-label pairs."""
    out: set[tuple[str, str]] = set()
    for m in matches:
        bank = m.bank_name[:100]
        out.add(("bank", bank))
        for lb in {str(x).strip().lower()[:200] for x in (m.labels or [])}:
            out.add(("label", lb))
            out.add(("pair", pair_value(bank, lb)))
    return out


def tag_case(s: Session, case: CaseRow, matches: Iterable[Match]) -> None:
    """Add the tags of ``matches`` to one case, in the caller's transaction (existing tags are kept)."""
    keys = tag_keys(matches)
    if keys:
        _insert(s, [_row(case.id, k, v, case.priority, case.created_at, case.status != "decided")
                    for k, v in sorted(keys)])


def tag_cases_of_item(s: Session, item_id: str, matches: Iterable[Match]) -> None:
    """Add the tags of new matches to every case of an item (a retroactive match reaches open cases too)."""
    keys = tag_keys(matches)
    cases = s.execute(select(CaseRow.id, CaseRow.priority, CaseRow.created_at, CaseRow.status)
                      .where(CaseRow.item_id == item_id)).all()
    if keys and cases:
        _insert(s, [_row(c.id, k, v, c.priority, c.created_at, c.status != "decided")
                    for c in cases for k, v in sorted(keys)])


def sync_case_tags(s: Session, case: CaseRow) -> None:
    """Copy a case's priority and decided state to its tags (after the priority rose or it was decided)."""
    s.execute(update(CaseTagRow).where(CaseTagRow.case_id == case.id)
              .values(priority=case.priority, undecided=case.status != "decided"))


def _row(case_id: int, kind: str, value: str, priority: int, created_at: datetime,
         undecided: bool) -> dict[str, object]:
    return {"case_id": case_id, "kind": kind, "value": value, "priority": priority, "created_at": created_at,
            "undecided": undecided}


def _insert(s: Session, rows: list[dict[str, object]]) -> None:
    """Insert tag rows, skipping ones already there (two writers may tag the same case at once)."""
    dialect = s.get_bind().dialect.name
    stmt = postgresql.insert(CaseTagRow) if dialect == "postgresql" else sqlite.insert(CaseTagRow)
    s.execute(stmt.on_conflict_do_nothing(), rows)


def backfill_case_tags(conn: Connection) -> None:
    """Tag every case from its item's stored matches (stores whose cases predate tags, and bulk loads).

    The same statement as migration 0021's, kept here for bulk loads that write cases directly.
    """
    for statement in backfill_statements(conn.dialect.name):
        conn.execute(text(statement))


def backfill_statements(dialect: str) -> list[str]:
    """SQL that fills ``case_tags`` from ``cases`` and ``matches`` (three statements: banks, labels, pairs)."""
    if dialect == "postgresql":
        each = ("CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(m.labels::jsonb) = 'array' "
                "THEN m.labels::jsonb ELSE '[]'::jsonb END) AS l(value)")
        sep = "chr(31)"
        undecided = "c.status <> 'decided'"
    else:
        each = "JOIN json_each(CASE WHEN json_valid(m.labels) THEN m.labels ELSE '[]' END) AS l"
        sep = "char(31)"
        undecided = "CASE WHEN c.status <> 'decided' THEN 1 ELSE 0 END"
    head = "INSERT INTO case_tags (case_id, kind, value, priority, created_at, undecided) SELECT DISTINCT c.id, "
    tail = f", c.priority, c.created_at, {undecided} FROM cases c JOIN matches m ON m.item_id = c.item_id"
    label = "substr(lower(trim(l.value)), 1, 200)"
    # "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as a join's ON
    return [f"{head}'bank', substr(m.bank_name, 1, 100){tail} WHERE 1 = 1 ON CONFLICT DO NOTHING",
            f"{head}'label', {label}{tail} {each} WHERE 1 = 1 ON CONFLICT DO NOTHING",
            f"{head}'pair', substr(m.bank_name, 1, 100) || {sep} || {label}{tail} {each} "
            "WHERE 1 = 1 ON CONFLICT DO NOTHING"]
