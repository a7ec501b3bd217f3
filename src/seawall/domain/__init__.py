"""Domain objects shared by every stage: banks, entries, signals, items, matches and verdicts."""

from seawall.domain.models import (
    ACTIONS,
    BANK_KINDS,
    CONTENT_TYPES,
    VERDICTS,
    Bank,
    BankEntry,
    ComputedSignal,
    Item,
    Match,
    Verdict,
)

__all__ = [
    "ACTIONS",
    "BANK_KINDS",
    "CONTENT_TYPES",
    "VERDICTS",
    "Bank",
    "BankEntry",
    "ComputedSignal",
    "Item",
    "Match",
    "Verdict",
]
