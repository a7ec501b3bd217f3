"""Filters on JSON columns that read the same on SQLite and PostgreSQL.

Labels are stored as JSON lists of strings, an item's signals as a JSON list of objects. A containment
test written as a LIKE on the stored text works on both databases without JSON operators; it is for
small, rare lookups (a bank's entry search, a case search by hash), not for the queue's bank and label
filters, which read indexed tags instead (:mod:`seawall.store.case_tags`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast
from sqlalchemy.sql import ColumnElement


def escape_like(value: str) -> str:
    """``value`` with LIKE's wildcards and the escape character escaped (escape character ``\\``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def json_holds_string(column: Any, value: str) -> ColumnElement[bool]:
    """The JSON in ``column`` holds the string ``value`` exactly (a list member or an object's value)."""
    return cast(column, String).like(f'%"{escape_like(value)}"%', escape="\\")
