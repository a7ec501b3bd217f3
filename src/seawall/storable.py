"""What the store can hold: limits every database sets, checked before a value reaches a query.

PostgreSQL text and JSONB values cannot hold the NUL character, and integer columns end at 2^31-1
(``INTEGER``) or 2^63-1 (``BIGINT``, and every SQLite integer). A value beyond them would fail deep in
a query as a server error; checked here it is the caller's 422 with a sentence saying why.
"""

from __future__ import annotations

from typing import Any

from seawall.errors import InvalidInput

#: Largest value of a 32-bit (``INTEGER``) column: banks, webhooks, rule set versions.
MAX_INT32 = 2**31 - 1
#: Largest value of a 64-bit (``BIGINT``) column, and of any SQLite integer: entries, deliveries, appeals.
MAX_INT64 = 2**63 - 1

NUL_MESSAGE = "must not contain the NUL character (U+0000), which no stored value can hold"


def has_nul(value: Any) -> bool:
    """Whether a string or JSON-like value holds a NUL in any string, key or nested value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def check_stored(value: Any, field: str) -> Any:
    """``value`` unchanged, or 422 ``invalid_characters`` when it holds a NUL anywhere."""
    if has_nul(value):
        raise InvalidInput(f"{field}: {NUL_MESSAGE}", code="invalid_characters")
    return value
