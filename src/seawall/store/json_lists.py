"""Filters on JSON list columns that read the same on SQLite and PostgreSQL.

Labels are stored as JSON lists of strings. A containment test written as a LIKE on the stored text
works on both databases without JSON operators; it is for small, rare lookups (a bank's entry search),
not for queue filters, which read indexed tags instead (:mod:`seawall.store.case_tags`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast
from sqlalchemy.sql import ColumnElement


def escape_like(value: str) -> str:
    """``value`` with LIKE's wildcards and the escape character escaped (escape character ``\\``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def json_list_contains(column: Any, value: str) -> ColumnElement[bool]:
    """The JSON list in ``column`` holds the string ``value`` exactly."""
    return cast(column, String).like(f'%"{escape_like(value)}"%', escape="\\")
