"""The records every stage shares (banks, entries, signals, items, matches and verdicts) and the label
taxonomy. Named ``models`` so that "domain" means only the link signal and its index."""

from seawall.models.records import (
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
