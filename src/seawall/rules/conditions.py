"""Conditions of the rule language. Each one tests the facts and says, in words, why it held or not.

The words matter: they are what a dry run shows an operator and what a decision keeps for the user
and a regulator, so every test returns ``(held, because)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from seawall.rules.facts import Facts, MatchFact

Result = tuple[bool, str]


def _names(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)


class Condition:
    def test(self, facts: Facts) -> Result:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(slots=True)
class MatchCondition(Condition):
    """Some single match satisfies every filter (bank names and labels accept ``*`` wildcards)."""

    bank: list[str] | None = None
    bank_kind: list[str] | None = None
    bank_action: list[str] | None = None
    label: list[str] | None = None
    signal_type: list[str] | None = None
    max_distance: int | None = None
    #: Names of sources (exchanges, partners) one of which must have reported the entry (``*`` wildcards).
    source: list[str] | None = None
    #: At least this many sources reported the entry (e.g. block when two partners agree).
    min_sources: int | None = None
    #: :meth:`describe`'s words, made on first use: a rule set is compiled once and evaluated for every
    #: upload, and every evaluation of a match rule quotes them (no field changes once parsing is done).
    _described: str | None = field(default=None, init=False, repr=False, compare=False)

    def _fits(self, m: MatchFact) -> bool:
        if self.bank is not None and not any(fnmatchcase(m.bank, p) for p in self.bank):
            return False
        if self.bank_kind is not None and m.bank_kind not in self.bank_kind:
            return False
        if self.bank_action is not None and m.bank_action not in self.bank_action:
            return False
        if self.label is not None and not any(fnmatchcase(lb, p) for lb in m.labels for p in self.label):
            return False
        if self.signal_type is not None and m.signal_type not in self.signal_type:
            return False
        if self.source is not None and not any(fnmatchcase(src, p) for src in m.sources for p in self.source):
            return False
        if self.min_sources is not None and m.source_count < self.min_sources:
            return False
        return self.max_distance is None or m.distance <= self.max_distance

    def describe(self) -> str:
        if self._described is None:
            self._described = self._words()
        return self._described

    def _words(self) -> str:
        parts = []
        for name in ("bank", "bank_kind", "bank_action", "label", "signal_type", "source"):
            values = getattr(self, name)
            if values is not None:
                parts.append(f"{name} {_names(values)}")
        if self.max_distance is not None:
            parts.append(f"distance ≤ {self.max_distance}")
        if self.min_sources is not None:
            parts.append(f"reported by ≥ {self.min_sources} source(s)")
        return ", ".join(parts) or "any bank"

    def test(self, facts: Facts) -> Result:
        for m in facts.matches:
            if self._fits(m):
                entry = f" entry {m.entry_id}" if m.entry_id is not None else ""
                return True, (f"{m.signal_type} match in {m.bank_kind} bank {m.bank}{entry} at distance "
                              f"{m.distance} (action {m.bank_action}) fits: {self.describe()}")
        return False, f"no match fits: {self.describe()}"


@dataclass(slots=True)
class MatchedCondition(Condition):
    expected: bool

    def test(self, facts: Facts) -> Result:
        n = len(facts.matches)
        return (n > 0) == self.expected, f"{n} bank match(es)"


@dataclass(slots=True)
class ScoreCondition(Condition):
    name: str
    min: float | None = None
    max: float | None = None

    def test(self, facts: Facts) -> Result:
        if self.name not in facts.scores:
            return False, f"no {self.name} score"
        v = facts.scores[self.name]
        ok = (self.min is None or v >= self.min) and (self.max is None or v <= self.max)
        parts = ([f"≥ {self.min:g}"] if self.min is not None else []) + (
            [f"≤ {self.max:g}"] if self.max is not None else [])
        bounds = " and ".join(parts)
        return ok, f"score {self.name} = {v:g} ({'within' if ok else 'not'} {bounds})"


@dataclass(slots=True)
class AccountCondition(Condition):
    min_strikes: int | None = None
    max_strikes: int | None = None
    suspended: bool | None = None

    def test(self, facts: Facts) -> Result:
        a = facts.account
        if a is None:
            return False, "the item has no account"
        checks = []
        if self.min_strikes is not None:
            checks.append((a.strikes >= self.min_strikes, f"{a.strikes} active strike(s), need ≥ {self.min_strikes}"))
        if self.max_strikes is not None:
            checks.append((a.strikes <= self.max_strikes, f"{a.strikes} active strike(s), need ≤ {self.max_strikes}"))
        if self.suspended is not None:
            checks.append((a.suspended == self.suspended,
                           f"account {a.id} is {'suspended' if a.suspended else 'not suspended'}"))
        for ok, why in checks:
            if not ok:
                return False, why
        return True, "; ".join(why for _, why in checks) or f"account {a.id}"


@dataclass(slots=True)
class OneOfCondition(Condition):
    """A scalar fact (``language``, ``content_type``) is one of the listed values."""

    fact: str
    values: list[str]

    def test(self, facts: Facts) -> Result:
        value = getattr(facts, self.fact)
        if value is None:
            return False, f"{self.fact} is unknown"
        ok = value in self.values
        return ok, f"{self.fact} is {value}" + ("" if ok else f", not {_names(self.values)}")


@dataclass(slots=True)
class FlagCondition(Condition):
    fact: str
    expected: bool

    def test(self, facts: Facts) -> Result:
        value = bool(getattr(facts, self.fact))
        return value == self.expected, f"{self.fact.replace('_', ' ')} is {'on' if value else 'off'}"


@dataclass(slots=True)
class AllCondition(Condition):
    parts: list[Condition] = field(default_factory=list)

    def test(self, facts: Facts) -> Result:
        whys = []
        for c in self.parts:
            ok, why = c.test(facts)
            if not ok:
                return False, why
            whys.append(why)
        return True, "; ".join(whys) or "always"


@dataclass(slots=True)
class AnyCondition(Condition):
    options: list[Condition] = field(default_factory=list)

    def test(self, facts: Facts) -> Result:
        whys = []
        for c in self.options:
            ok, why = c.test(facts)
            if ok:
                return True, why
            whys.append(why)
        return False, "none of: " + " | ".join(whys)


@dataclass(slots=True)
class NotCondition(Condition):
    inner: Condition

    def test(self, facts: Facts) -> Result:
        ok, why = self.inner.test(facts)
        return not ok, f"not ({why})"


def uses(condition: Condition, kind: type[Condition]) -> bool:
    """Whether ``kind`` appears anywhere in a condition tree (so its facts must be looked up)."""
    if isinstance(condition, kind):
        return True
    if isinstance(condition, AllCondition):
        return any(uses(c, kind) for c in condition.parts)
    if isinstance(condition, AnyCondition):
        return any(uses(c, kind) for c in condition.options)
    if isinstance(condition, NotCondition):
        return uses(condition.inner, kind)
    return False
