"""From matches to a verdict. Pure: the same matches (and facts) always give the same verdict and reasons.

An allow bank holds known false positives (news photos, research, counter-speech) and always wins;
otherwise the strongest proposal among matched block banks decides. With a policy (the rules), the
rules decide the verdict and its actions from the facts; the match reasons are kept either way.
:func:`decide` is pure; :class:`ItemDecider` gathers the facts it needs from the store first.
"""

from __future__ import annotations

from typing import Protocol

from seawall.accounts.service import AccountService
from seawall.models.records import ACTION_SEVERITY, Item, Match, Verdict
from seawall.rules.evaluate import Outcome
from seawall.rules.facts import AccountFact, Facts, match_facts
from seawall.rules.service import RuleService
from seawall.sharing.provenance import with_provenance
from seawall.store.db import Database


class Policy(Protocol):
    def evaluate(self, facts: Facts) -> Outcome: ...


def decide(matches: list[Match], notes: list[str] | None = None, *, policy: Policy | None = None,
           facts: Facts | None = None) -> Verdict:
    """The bank-default verdict, or, given a policy, the rules' verdict and actions over ``facts``."""
    base = _bank_verdict(matches, notes)
    if policy is None:
        return base
    facts = facts if facts is not None else Facts(matches=match_facts(matches))
    outcome = policy.evaluate(facts)
    return Verdict(outcome.verdict, matches, base.reasons + outcome.reasons(), outcome.actions,
                   outcome.explanation(facts))


def _bank_verdict(matches: list[Match], notes: list[str] | None) -> Verdict:
    reasons = list(notes or [])
    allow = [m for m in matches if m.bank_kind == "allow"]
    block = [m for m in matches if m.bank_kind == "block"]
    if allow:
        banks = ", ".join(sorted({m.bank_name for m in allow}))
        reasons.append(f"matched allow bank(s) {banks}: known false positive, allow wins")
        if block:
            others = ", ".join(sorted({m.bank_name for m in block}))
            reasons.append(f"block bank match(es) in {others} overridden by the allow bank")
        return Verdict("allow", matches, reasons)
    if not block:
        reasons.append("no bank matched")
        return Verdict("allow", matches, reasons)
    strongest = max(block, key=lambda m: (ACTION_SEVERITY.get(m.action, 0), -m.distance))
    for m in sorted(block, key=lambda m: (m.bank_name, m.distance)):
        reasons.append(
            f"{m.signal_type} matched entry {m.entry_id} of bank {m.bank_name} at distance {m.distance}"
            + (f" ({m.variant})" if m.variant and m.variant != "original" else "")
            + f" → {m.action}"
        )
    return Verdict(strongest.action, matches, reasons)


class ItemDecider:
    """The decide stage of an upload (and of a retro-match): facts read from the store, then the rules."""

    def __init__(self, db: Database, rules: RuleService, accounts: AccountService) -> None:
        self.db = db
        self.rules = rules
        self.accounts = accounts

    def facts_for(self, item: Item, matches: list[Match], *, deferred: bool = False,
                  history: bool | None = None) -> Facts:
        """What the rules may know about an item: matches, account history, crisis mode, content type.

        Account history costs a query per upload, so it is read only when some rule looks at it.
        """
        if history is None:
            history = self.rules.current().needs_account
        account = None
        if item.account_id:
            account = (self.accounts.snapshot(item.account_id) if history
                       else AccountFact(item.account_id, looked_up=False))
        return Facts(matches=with_provenance(self.db, match_facts(matches)), account=account,
                     crisis_mode=self.rules.crisis_mode(),
                     content_type=item.content_type, deferred=deferred,
                     language=item.language["code"] if item.language else None)

    def __call__(self, item: Item, matches: list[Match], notes: list[str], deferred: bool) -> Verdict:
        return decide(matches, notes, policy=self.rules, facts=self.facts_for(item, matches, deferred=deferred))
