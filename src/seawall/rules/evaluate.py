"""Run a rule set over the facts of one item: which rules fire, why, and what is to be done.

All rules are evaluated in file order (a rule with ``stop: true`` ends the evaluation when it fires);
every firing rule proposes its actions and ``precedence.resolve`` settles conflicts. The verdict the
platform sees (allow / block / review / label) is the strongest verdict among the final actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seawall.models.records import ACTION_SEVERITY, Action
from seawall.rules.facts import Facts
from seawall.rules.language import RuleSet
from seawall.rules.precedence import resolve


@dataclass(slots=True)
class RuleTrace:
    rule: str
    line: int
    fired: bool
    because: str
    actions: list[Action] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "line": self.line, "fired": self.fired, "because": self.because,
                "actions": [a.to_dict() for a in self.actions]}


@dataclass(slots=True)
class Outcome:
    verdict: str
    actions: list[Action]
    trace: list[RuleTrace]
    notes: list[str]
    rule_set_version: int

    @property
    def fired(self) -> list[RuleTrace]:
        return [t for t in self.trace if t.fired]

    def reasons(self) -> list[str]:
        """Sentences for the item's reasons: each rule that fired and each precedence note."""
        return [f"rule {t.rule} fired: {t.because}" for t in self.fired] + self.notes

    def explanation(self, facts: Facts) -> dict[str, Any]:
        """What a decision keeps so it can be explained later (to the user, to a regulator)."""
        return {
            "rule_set_version": self.rule_set_version,
            "fired": [t.to_dict() for t in self.fired],
            "notes": self.notes,
            "facts": facts.to_dict(),
        }


def evaluate(rules: RuleSet, facts: Facts, verdict_of: Mapping[str, str | None]) -> Outcome:
    """``verdict_of`` maps an action type to the verdict it implies (block → block, queue → review…)."""
    trace: list[RuleTrace] = []
    proposed: list[Action] = []
    stopped_by: str | None = None
    for rule in rules.rules:
        if stopped_by is not None:
            trace.append(RuleTrace(rule.id, rule.line, False, f"not evaluated: rule {stopped_by} has stop: true"))
            continue
        ok, why = rule.when.test(facts)
        trace.append(RuleTrace(rule.id, rule.line, ok, why, list(rule.then) if ok else []))
        if ok:
            proposed.extend(Action(a.type, dict(a.params), a.rule) for a in rule.then)
            if rule.stop:
                stopped_by = rule.id
    actions, notes = resolve(proposed, deferred=facts.deferred)
    verdict = "allow"
    for a in actions:
        v = verdict_of.get(a.type)
        if v is not None and ACTION_SEVERITY.get(v, 0) > ACTION_SEVERITY.get(verdict, 0):
            verdict = v
    return Outcome(verdict, actions, trace, notes, rules.version)
