"""Pseudonymous platform accounts: strikes that expire, suspensions by threshold, history and appeals."""

from seawall.accounts.service import AccountPolicy, AccountService, StrikeOutcome

__all__ = ["AccountPolicy", "AccountService", "StrikeOutcome"]
