"""The policy language: YAML rules → checked ``RuleSet``, with every mistake reported by line number.

Rules are read from the YAML node tree rather than from plain Python objects so that each error can
point at the line that caused it, and so that duplicate keys (which YAML would silently collapse)
are refused. Parsing never half-succeeds: a source with any error yields no rule set at all, so the
rules already in force stay in force.

Shape::

    version: 1
    rules:
      - id: imminent-threat                # unique; letters, digits, - _ . :
        description: optional words
        when:                              # every condition must hold (omit: always)
          match: {label: "behaviour:imminent-*", bank_kind: block}
          crisis_mode: true
        then: [block, escalate, strike]    # actions, see the registered action types
        stop: true                         # optional: later rules are not evaluated when this fires
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from seawall.errors import InvalidInput
from seawall.models.records import Action
from seawall.rules.conditions import (
    AccountCondition,
    AllCondition,
    AnyCondition,
    Condition,
    FlagCondition,
    MatchCondition,
    MatchedCondition,
    NotCondition,
    OneOfCondition,
    ScoreCondition,
    uses,
)

MAX_SOURCE_BYTES = 256 * 1024
MAX_RULES = 1000
MAX_DEPTH = 8
#: YAML nesting (mappings and lists inside each other) and node count a rules file may have. PyYAML's
#: scanner is quadratic in flow nesting and its composer recursive, so both are checked on the event
#: stream, which stops reading at the first offending event instead of building the whole tree.
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 20_000
#: libyaml's parser when PyYAML was built with it: the pure-Python scanner spends seconds of CPU (holding
#: the GIL, so every other request of the process waits) on a document near the node limit.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LANGUAGE_VERSION = 1
RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class ActionKind(Protocol):
    """What the language needs to know about an action type; action executors provide it."""

    def parse_params(self, value: Any) -> dict[str, Any]:
        """Options from ``{name: value}`` (``value`` is None for the bare form); ValueError if wrong."""
        ...


@dataclass(slots=True)
class RuleError:
    line: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class Rule:
    id: str
    when: Condition
    then: list[Action]
    description: str = ""
    stop: bool = False
    line: int = 0


@dataclass(slots=True)
class RuleSet:
    rules: list[Rule]
    source: str
    version: int = 0
    created_by: str = ""
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _needs_account: bool | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def needs_account(self) -> bool:
        """Whether any rule looks at account history; if none does, uploads skip that lookup.

        Asked twice per upload; the answer is worked out once per rule set (a rule set is not changed once
        parsed: new rules are a new rule set), not by walking every rule's conditions each time.
        """
        known = self._needs_account
        if known is None:
            known = self._needs_account = any(uses(r.when, AccountCondition) for r in self.rules)
        return known


class RulesInvalid(InvalidInput):
    """Refused rules, with every error found and its line."""

    def __init__(self, errors: list[RuleError]) -> None:
        first = errors[0] if errors else RuleError(1, "invalid rules")
        more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        super().__init__(f"rules refused, nothing changed: {first}{more}", code="invalid_rules",
                         detail=[e.to_dict() for e in errors])
        self.errors = errors


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Parser:
    def __init__(self, kinds: Mapping[str, ActionKind]) -> None:
        self.kinds = kinds
        self.errors: list[RuleError] = []
        self.seen_ids: dict[str, int] = {}
        self._scalars = SafeConstructor()

    def error(self, node: Node, message: str) -> None:
        self.errors.append(RuleError(_line(node), message))

    # --- node helpers ----------------------------------------------------------------------------
    def scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise ValueError("expected a single value")
        try:
            return self._scalars.construct_object(node, deep=True)
        except ConstructorError as exc:
            raise ValueError(str(exc.problem)) from None

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]] | None:
        """Keys → (key node, value node); reports non-mappings, non-string keys and duplicates."""
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping of 'key: value' lines")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for k, v in node.value:
            if not isinstance(k, ScalarNode) or not isinstance(k.value, str):
                self.error(k, f"{what}: keys must be plain words")
                continue
            if k.value in out:
                self.error(k, f"{what}: {k.value!r} appears twice (first on line {_line(out[k.value][0])})")
                continue
            out[k.value] = (k, v)
        return out

    def typed(self, node: Node, check: Callable[[Any], bool], expected: str, what: str) -> Any:
        try:
            value = self.scalar(node)
        except ValueError:
            self.error(node, f"{what} must be {expected}")
            return None
        if not check(value):
            self.error(node, f"{what} must be {expected}, not {value!r}")
            return None
        return value

    def text(self, node: Node, what: str, max_len: int = 500) -> str | None:
        value = self.typed(node, lambda v: isinstance(v, str) and 0 < len(v) <= max_len,
                           f"text of 1–{max_len} characters", what)
        return value if isinstance(value, str) else None

    def boolean(self, node: Node, what: str) -> bool | None:
        value = self.typed(node, lambda v: isinstance(v, bool), "true or false", what)
        return value if isinstance(value, bool) else None

    def number(self, node: Node, what: str, *, integer: bool = False, minimum: float | None = None,
               maximum: float | None = None) -> float | None:
        def ok(v: Any) -> bool:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
                return False
            return (minimum is None or v >= minimum) and (maximum is None or v <= maximum)

        bounds = f" between {minimum:g} and {maximum:g}" if minimum is not None and maximum is not None else (
            f" ≥ {minimum:g}" if minimum is not None else "")
        value = self.typed(node, ok, ("a whole number" if integer else "a number") + bounds, what)
        return float(value) if value is not None else None

    def words(self, node: Node, what: str, allowed: tuple[str, ...] | None = None) -> list[str] | None:
        """One word or a list of words (``bank: x`` or ``bank: [x, y]``)."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            self.error(node, f"{what} must not be an empty list")
            return None
        out: list[str] = []
        for n in items:
            v = self.text(n, what, 300)
            if v is None:
                return None
            if allowed is not None and v not in allowed:
                self.error(n, f"{what} must be {' or '.join(allowed)}, not {v!r}")
                return None
            out.append(v)
        return out

    # --- the document ----------------------------------------------------------------------------
    def document(self, root: Node | None) -> list[Rule]:
        if root is None:
            self.errors.append(RuleError(1, "the rules are empty; expected 'version: 1' and 'rules:'"))
            return []
        top = self.mapping(root, "the rules file")
        if top is None:
            return []
        for key, (k, _) in top.items():
            if key not in ("version", "rules", "description"):
                self.error(k, f"unknown top-level key {key!r}; expected version, rules, description")
        if "version" in top:
            self.typed(top["version"][1], lambda x: x == LANGUAGE_VERSION, str(LANGUAGE_VERSION), "version")
        if "description" in top:
            self.text(top["description"][1], "description", 10_000)
        if "rules" not in top:
            self.error(root, "missing 'rules:' (a list of rules)")
            return []
        rules_node = top["rules"][1]
        if not isinstance(rules_node, SequenceNode):
            self.error(rules_node, "'rules' must be a list; start each rule with '- id: …'")
            return []
        if len(rules_node.value) > MAX_RULES:
            self.error(rules_node, f"at most {MAX_RULES} rules")
            return []
        rules: list[Rule] = []
        for node in rules_node.value:
            rule = self.rule(node)
            if rule is not None:
                rules.append(rule)
        return rules

    def rule(self, node: Node) -> Rule | None:
        fields = self.mapping(node, "a rule")
        if fields is None:
            return None
        before = len(self.errors)
        for key, (k, _) in fields.items():
            if key not in ("id", "description", "when", "then", "stop"):
                self.error(k, f"unknown rule key {key!r}; expected id, description, when, then, stop")
        rid = None
        if "id" not in fields:
            self.error(node, "a rule needs an 'id'")
        else:
            rid = self.typed(fields["id"][1], lambda v: isinstance(v, str) and bool(RULE_ID.match(v)),
                             "letters, digits and - _ . : (at most 100)", "id")
        if rid is not None:
            if rid in self.seen_ids:
                self.error(node, f"rule id {rid!r} is used twice (first on line {self.seen_ids[rid]})")
            else:
                self.seen_ids[rid] = _line(node)
        label = f"rule {rid!r}" if rid else "rule"
        description = ""
        if "description" in fields:
            description = self.text(fields["description"][1], f"{label}: description", 10_000) or ""
        when: Condition = AllCondition([])
        if "when" in fields:
            when = self.conditions(fields["when"][1], label, 0) or AllCondition([])
        actions: list[Action] = []
        if "then" not in fields:
            self.error(node, f"{label} needs 'then:' (a list of actions)")
        else:
            actions = self.actions(fields["then"][1], label, rid or "")
        stop = False
        if "stop" in fields:
            stop = bool(self.boolean(fields["stop"][1], f"{label}: stop"))
        if len(self.errors) > before or rid is None:
            return None
        return Rule(id=rid, when=when, then=actions, description=description, stop=stop, line=_line(node))

    # --- conditions ------------------------------------------------------------------------------
    def conditions(self, node: Node, label: str, depth: int) -> AllCondition | None:
        if depth > MAX_DEPTH:
            self.error(node, f"{label}: conditions nested more than {MAX_DEPTH} deep")
            return None
        fields = self.mapping(node, f"{label}: when")
        if fields is None:
            return None
        parts: list[Condition] = []
        for key, (k, v) in fields.items():
            what = f"{label}: {key}"
            cond: Condition | None = None
            if key == "match":
                cond = self.match(v, what)
            elif key == "matched":
                b = self.boolean(v, what)
                cond = MatchedCondition(b) if b is not None else None
            elif key in ("score", "scores"):
                cond = self.scores(v, what)
            elif key == "account":
                cond = self.account(v, what)
            elif key == "language":
                words = self.words(v, what)
                cond = OneOfCondition("language", [w.lower() for w in words]) if words else None
            elif key == "content_type":
                words = self.words(v, what, ("image", "file", "text", "video"))
                cond = OneOfCondition("content_type", words) if words else None
            elif key in ("crisis_mode", "deferred"):
                b = self.boolean(v, what)
                cond = FlagCondition(key, b) if b is not None else None
            elif key == "any":
                cond = self.any_of(v, what, depth)
            elif key == "not":
                inner = self.conditions(v, what, depth + 1)
                cond = NotCondition(inner) if inner is not None else None
            else:
                self.error(k, f"{label}: unknown condition {key!r}; expected match, matched, score, account, "
                              "language, content_type, crisis_mode, deferred, any, not")
            if cond is not None:
                parts.append(cond)
        return AllCondition(parts)

    def any_of(self, node: Node, what: str, depth: int) -> AnyCondition | None:
        if not isinstance(node, SequenceNode) or not node.value:
            self.error(node, f"{what} must be a non-empty list of condition mappings")
            return None
        options = [self.conditions(n, what, depth + 1) for n in node.value]
        if any(o is None for o in options):
            return None
        return AnyCondition([o for o in options if o is not None])

    def match(self, node: Node, what: str) -> MatchCondition | None:
        fields = self.mapping(node, what)
        if fields is None:
            return None
        cond = MatchCondition()
        for key, (k, v) in fields.items():
            sub = f"{what}.{key}"
            if key in ("bank", "label", "signal_type", "source"):
                setattr(cond, key, self.words(v, sub))
            elif key == "min_sources":
                n = self.number(v, sub, integer=True, minimum=0, maximum=1000)
                cond.min_sources = int(n) if n is not None else None
            elif key == "bank_kind":
                cond.bank_kind = self.words(v, sub, ("block", "allow"))
            elif key == "bank_action":
                cond.bank_action = self.words(v, sub, ("block", "review", "label", "allow"))
            elif key == "max_distance":
                n = self.number(v, sub, integer=True, minimum=0, maximum=256)
                cond.max_distance = int(n) if n is not None else None
            else:
                self.error(k, f"{what}: unknown match field {key!r}; expected bank, bank_kind, bank_action, "
                              "label, signal_type, max_distance, source, min_sources")
        return cond

    def scores(self, node: Node, what: str) -> AllCondition | None:
        """``score: {name: 0.9}`` (at least) or ``score: {name: {min: 0.5, max: 0.8}}``."""
        fields = self.mapping(node, what)
        if fields is None:
            return None
        parts: list[Condition] = []
        for name, (_, v) in fields.items():
            sub = f"{what}.{name}"
            if isinstance(v, ScalarNode):
                lo = self.number(v, sub, minimum=0, maximum=1)
                if lo is not None:
                    parts.append(ScoreCondition(name, min=lo))
                continue
            bounds = self.mapping(v, sub)
            if bounds is None:
                continue
            lo = hi = None
            for b, (bk, bv) in bounds.items():
                if b not in ("min", "max"):
                    self.error(bk, f"{sub}: expected min and/or max, not {b!r}")
                elif b == "min":
                    lo = self.number(bv, f"{sub}.min", minimum=0, maximum=1)
                else:
                    hi = self.number(bv, f"{sub}.max", minimum=0, maximum=1)
            if lo is None and hi is None:
                self.error(v, f"{sub}: give min and/or max")
                continue
            parts.append(ScoreCondition(name, min=lo, max=hi))
        return AllCondition(parts)

    def account(self, node: Node, what: str) -> AccountCondition | None:
        fields = self.mapping(node, what)
        if fields is None:
            return None
        cond = AccountCondition()
        for key, (k, v) in fields.items():
            sub = f"{what}.{key}"
            if key in ("min_strikes", "max_strikes"):
                n = self.number(v, sub, integer=True, minimum=0)
                setattr(cond, key, int(n) if n is not None else None)
            elif key == "suspended":
                cond.suspended = self.boolean(v, sub)
            else:
                self.error(k, f"{what}: unknown account field {key!r}; expected min_strikes, max_strikes, suspended")
        return cond

    # --- actions ---------------------------------------------------------------------------------
    def actions(self, node: Node, label: str, rule_id: str) -> list[Action]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        if not items:
            self.error(node, f"{label}: 'then' needs at least one action")
            return []
        out: list[Action] = []
        for n in items:
            if isinstance(n, ScalarNode):
                name, value, at = n.value, None, n
            elif isinstance(n, MappingNode) and len(n.value) == 1 and isinstance(n.value[0][0], ScalarNode):
                name, at = n.value[0][0].value, n.value[0][0]
                value = self.plain(n.value[0][1])
            else:
                self.error(n, f"{label}: an action is a word (block) or one 'name: option' pair (label: \"text\")")
                continue
            kind = self.kinds.get(name)
            if kind is None:
                self.error(at, f"{label}: unknown action {name!r}; expected {', '.join(sorted(self.kinds))}")
                continue
            try:
                params = kind.parse_params(value)
            except ValueError as exc:
                self.error(n, f"{label}: {name}: {exc}")
                continue
            out.append(Action(name, params, rule_id))
        return out

    def plain(self, node: Node) -> Any:
        """An action's option as plain data (actions validate their own options)."""
        if isinstance(node, ScalarNode):
            try:
                return self.scalar(node)
            except ValueError:
                return node.value
        if isinstance(node, SequenceNode):
            return [self.plain(n) for n in node.value]
        if isinstance(node, MappingNode):
            return {k.value: self.plain(v) for k, v in node.value if isinstance(k, ScalarNode)}
        return None


#: Quoted strings and comments (skipped) and flow brackets (counted), for the pre-scan below.
_FLOW_TOKENS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|(?:^|(?<=\s))#[^\n]*|[\[\]{}]")


def _flow_depth_line(source: str) -> int | None:
    """The line where ``[``/``{`` nesting passes the limit, found by a regex scan in a few microseconds.

    PyYAML's scanner spends about 0.2 s of CPU on a line of thousands of ``[`` before it emits the
    events the check below counts; this finds the common attack first. Quotes and comments are
    skipped, so brackets inside them never count.
    """
    depth = 0
    for m in _FLOW_TOKENS.finditer(source):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > MAX_YAML_DEPTH:
                return source.count("\n", 0, m.start()) + 1
        elif token in "]}":
            depth = max(0, depth - 1)
    return None


def _check_shape(source: str) -> None:
    """Refuse aliases, deep nesting and huge node counts while streaming events, before any tree exists.

    Aliases would let shared subtrees make evaluation cost unbounded; nesting and size limits keep the
    recursive composer and the checker below within bounded time and stack.
    """
    line = _flow_depth_line(source)
    if line is not None:
        raise RulesInvalid([RuleError(line, f"the rules are nested more than {MAX_YAML_DEPTH} levels deep")])
    depth = nodes = 0
    for event in yaml.parse(source, Loader=_LOADER):
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.AliasEvent):
            raise RulesInvalid([RuleError(line, "YAML aliases (*name) are not allowed")])
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise RulesInvalid([RuleError(line, f"the rules are nested more than {MAX_YAML_DEPTH} levels deep")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, (yaml.CollectionStartEvent, yaml.ScalarEvent)):
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise RulesInvalid([RuleError(line, f"the rules have more than {MAX_YAML_NODES:,} YAML values")])


def parse_rules(source: str, kinds: Mapping[str, ActionKind]) -> RuleSet:
    """Parse and check rules; raise ``RulesInvalid`` listing every error with its line number.

    One document at a time per process: parsing near the limits holds the GIL for a good fraction of a
    second, so concurrent hostile documents queue here instead of starving every other request.
    """
    with _PARSING:
        return _parse_rules(source, kinds)


_PARSING = threading.Lock()


def _parse_rules(source: str, kinds: Mapping[str, ActionKind]) -> RuleSet:
    if len(source.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES:
        raise RulesInvalid([RuleError(1, f"the rules are larger than {MAX_SOURCE_BYTES // 1024} KiB")])
    try:
        _check_shape(source)
        root = yaml.compose(source, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise RulesInvalid([RuleError(line, f"not valid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise RulesInvalid([RuleError(1, f"not valid YAML: {exc}")]) from None
    parser = _Parser(kinds)
    rules = parser.document(root)
    if parser.errors:
        raise RulesInvalid(sorted(parser.errors, key=lambda e: e.line))
    return RuleSet(rules=rules, source=source)
