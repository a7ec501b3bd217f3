"""Policy rules: parsing with line-numbered errors, precedence, defaults, storage and dry runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.engine import Engine
from seawall.models.records import Action, Match
from seawall.plugins import registry
from seawall.rules.defaults import DEFAULT_RULES
from seawall.rules.evaluate import evaluate
from seawall.rules.facts import AccountFact, Facts, MatchFact, match_facts
from seawall.rules.language import RuleSet, RulesInvalid, parse_rules
from seawall.rules.precedence import resolve
from seawall.store.tables import RuleSetRow, utcnow
from seawall.store.write_lock import lock_table_for_append
from seawall.verdicts.decide import decide

from .conftest import auth

KINDS = registry().action_types
VERDICT_OF = {n: a.verdict for n, a in KINDS.items()}

POLICY = """\
version: 1
rules:
  - id: allow-bank
    when: {match: {bank_kind: allow}}
    then: [allow]
  - id: imminent
    description: imminent threats are escalated, and struck against the account
    when:
      match: {label: "behaviour:imminent-*", bank_kind: block}
    then: [block, escalate, strike]
  - id: crisis-tighten
    when:
      crisis_mode: true
      any:
        - score: {tvec: 0.8}
        - match: {bank_action: review}
    then: [block]
  - id: repeat-offender
    when:
      account: {min_strikes: 2, suspended: false}
      matched: true
    then:
      - suspend: 7
  - id: review-scores
    when:
      score: {tvec: {min: 0.5, max: 0.8}}
      not: {language: [en]}
    then:
      - queue: high
"""


def m(bank: str = "b", kind: str = "block", action: str = "block", labels: list[str] | None = None,
      distance: int = 0) -> MatchFact:
    return MatchFact(bank=bank, bank_kind=kind, bank_action=action, labels=labels or [], distance=distance,
                     signal_type="pdq", entry_id=1)


def run(facts: Facts, source: str = POLICY) -> tuple[str, list[Action], list[str]]:
    out = evaluate(parse_rules(source, KINDS), facts, VERDICT_OF)
    return out.verdict, out.actions, [t.rule for t in out.fired]


# --- the language ------------------------------------------------------------------------------


def test_valid_policy_parses_and_evaluates() -> None:
    rules = parse_rules(POLICY, KINDS)
    assert [r.id for r in rules.rules] == ["allow-bank", "imminent", "crisis-tighten", "repeat-offender",
                                           "review-scores"]
    assert rules.rules[1].line == 6
    verdict, actions, fired = run(Facts(matches=[m(labels=["behaviour:imminent-credible-threat"])]))
    assert fired == ["imminent"] and verdict == "block"
    assert [a.type for a in actions] == ["block", "queue", "escalate", "strike"]
    assert actions[1].params == {"priority": "urgent"}


def test_conditions_scores_language_crisis_account() -> None:
    assert run(Facts(scores={"tvec": 0.9}))[2] == []
    assert run(Facts(scores={"tvec": 0.9}, crisis_mode=True))[2] == ["crisis-tighten"]
    assert run(Facts(matches=[m(action="review")], crisis_mode=True))[2] == ["crisis-tighten"]
    assert run(Facts(scores={"tvec": 0.6}, language="ar"))[:2] == ("review", [Action("queue", {"priority": "high"},
                                                                                       "review-scores")])
    assert run(Facts(scores={"tvec": 0.6}, language="en"))[2] == []
    assert run(Facts(scores={"tvec": 0.6}))[2] == ["review-scores"]  # language unknown: not English
    offender = AccountFact("u1", strikes=2)
    assert run(Facts(matches=[m(action="label")], account=offender))[2] == ["repeat-offender"]
    assert run(Facts(matches=[m(action="label")], account=AccountFact("u1", 2, suspended=True)))[2] == []
    assert run(Facts(account=offender))[2] == []  # matched: true fails


def test_errors_carry_line_numbers_and_all_are_reported() -> None:
    bad = """\
version: 1
rules:
  - id: ok
    then: [block]
  - id: typo
    when:
      match: {bank_kind: blok, max_distance: -1}
      score: {tvec: 1.5}
    then: [block, {label: ""}, nuke]
  - id: ok
    then: [allow]
  - when: {crisis: true}
    then: []
    stop: maybe
"""
    with pytest.raises(RulesInvalid) as exc:
        parse_rules(bad, KINDS)
    lines = [(e.line, e.message) for e in exc.value.errors]
    assert exc.value.status == 422 and exc.value.code == "invalid_rules"
    got = {line for line, _ in lines}
    assert {7, 8, 9, 10, 12, 13, 14} <= got, lines
    assert any(line == 7 and "blok" in msg for line, msg in lines)
    assert any(line == 9 and "nuke" in msg and "expected allow, block" in msg for line, msg in lines)
    assert any(line == 10 and "used twice (first on line 3)" in msg for line, msg in lines)
    assert any(line == 12 and "needs an 'id'" in msg for line, msg in lines)
    assert exc.value.message.startswith("rules refused, nothing changed: line 7:")


@pytest.mark.parametrize(("source", "line", "fragment"), [
    ("rules:\n  - id: x\n    then: [block\n", 4, "not valid YAML"),
    ("rules: {}\n", 1, "must be a list"),
    ("version: 2\nrules: []\n", 1, "version must be 1"),
    ("", 1, "empty"),
    ("rules:\n  - id: x\n    then: [block]\n    then: [allow]\n", 4, "appears twice"),
    ("rules:\n  - &a {id: x, then: [block]}\n  - *a\n", 3, "aliases"),
    ("rules:\n  - id: x\n    then:\n      - suspend: -3\n", 4, "number of days"),
    ("rules:\n  - id: x\n    then:\n      - queue: asap\n", 4, "priority must be one of"),
    ("rules:\n  - id: x\n    when:\n      any: []\n    then: [block]\n", 4, "non-empty list"),
    ("rules:\n  - id: 'bad id!'\n    then: [block]\n", 2, "letters, digits"),
    ("rules:\n  - id: x\n    when: {account: {strikes: 2}}\n    then: [block]\n", 3, "unknown account field"),
])
def test_each_kind_of_mistake_is_located(source: str, line: int, fragment: str) -> None:
    with pytest.raises(RulesInvalid) as exc:
        parse_rules(source, KINDS)
    first = exc.value.errors[0]
    assert (first.line, fragment in first.message) == (line, True), exc.value.errors


# --- precedence --------------------------------------------------------------------------------


def A(kind: str, rule: str = "r", **params: object) -> Action:
    return Action(kind, dict(params), rule)


def test_precedence_allow_wins_over_everything() -> None:
    final, notes = resolve([A("block", "b"), A("strike", "s"), A("allow", "al"), A("escalate", "e")])
    assert final == [A("allow", "al")]
    assert "overrides block (rule b), strike (rule s), escalate (rule e)" in notes[0]


def test_precedence_block_remove_label_queue_suspend() -> None:
    final, notes = resolve([A("label", "l1", text="one"), A("remove", "rm"), A("block", "b"),
                            A("queue", "q", priority="low"), A("queue", "q2", priority="high"), A("strike", "s1"),
                            A("strike", "s2"), A("suspend", "t", days=7), A("suspend", "p", duration="permanent"),
                            A("suspend", "t2", days=30)])
    assert [(a.type, a.rule) for a in final] == [("block", "b"), ("queue", "q2"), ("strike", "s1"),
                                                  ("suspend", "p")]
    assert any("remove (rule rm) dropped" in n for n in notes) and any("label (rule l1) dropped" in n for n in notes)
    final, _ = resolve([A("label", "l1", text="one"), A("label", "l2", text="two"), A("remove", "rm")])
    assert [a.type for a in final] == ["remove"]
    final, _ = resolve([A("label", "l2", text="two"), A("label", "l1", text="one"), A("queue")])
    assert final[0] == A("label", "l2", text="two") and final[1].params == {}


def test_precedence_deferred_block_becomes_remove() -> None:
    final, notes = resolve([A("block", "b"), A("label", "l", text="x")], deferred=True)
    assert [a.type for a in final] == ["remove"] and "becomes remove" in notes[0]


def test_conflicting_rules_resolve_the_documented_way() -> None:
    facts = Facts(matches=[m("news", kind="allow", action="allow"),
                           m("tvec", labels=["behaviour:imminent-credible-threat"])])
    verdict, actions, fired = run(facts)
    assert fired == ["allow-bank", "imminent"] and verdict == "allow" and [a.type for a in actions] == ["allow"]


# --- defaults are today's bank behaviour ------------------------------------------------------------


def _match(bank: str, kind: str, action: str, distance: int = 0) -> Match:
    return Match(bank_id=1, bank_name=bank, bank_kind=kind, entry_id=1, signal_type="md5", distance=distance,
                 labels=[], action=action)


@pytest.mark.parametrize("combo", [
    [], [("a", "block", "block")], [("a", "block", "review")], [("a", "block", "label")],
    [("a", "block", "label"), ("b", "block", "review")], [("a", "block", "review"), ("b", "block", "block")],
    [("n", "allow", "allow"), ("b", "block", "block")], [("n", "allow", "allow")],
])
def test_default_rules_equal_bank_default_actions(combo: list[tuple[str, str, str]]) -> None:
    rules = parse_rules(DEFAULT_RULES, KINDS)
    matches = [_match(*c) for c in combo]
    plain = decide(matches)

    class Policy:
        def evaluate(self, facts: Facts):  # type: ignore[no-untyped-def]
            return evaluate(rules, facts, VERDICT_OF)

    ruled = decide(matches, policy=Policy(), facts=Facts(matches=match_facts(matches)))
    assert ruled.verdict == plain.verdict
    assert ruled.reasons[:len(plain.reasons)] == plain.reasons
    assert ruled.explanation is not None and ruled.explanation["rule_set_version"] == 0


# --- stored rules, API and dry run (both backends) -----------------------------------------------


def _seed_item(client: TestClient, keys: dict[str, str], *, action: str = "block", account: str = "acct-1",
               text: str = "hello") -> dict[str, object]:
    import hashlib

    r = client.post("/v1/banks", json={"name": f"bank-{action}", "default_action": action,
                                       "labels": ["behaviour:glorification"]}, headers=auth(keys["admin"]))
    assert r.status_code in (201, 409), r.text
    digest = hashlib.md5(text.encode()).hexdigest()
    data = text.encode()
    r = client.post(f"/v1/banks/bank-{action}/entries", json={"signal_type": "md5", "value": digest},
                    headers=auth(keys["admin"]))
    assert r.status_code in (200, 201), r.text
    r = client.post("/v1/items", files={"file": ("a.bin", data, "application/octet-stream")},
                    data={"content_id": "post-1", "account_id": account}, headers=auth(keys["submitter"]))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_item_json_has_actions_and_decision_is_stored(client: TestClient, keys: dict[str, str]) -> None:
    item = _seed_item(client, keys)
    assert item["verdict"] == "block"
    assert item["actions"] == [{"type": "block", "rule": "bank-block"}]
    assert any("rule bank-block fired" in r for r in item["reasons"])  # type: ignore[attr-defined]
    got = client.get(f"/v1/items/{item['id']}", headers=auth(keys["reviewer"])).json()
    assert got["actions"] == item["actions"]
    decisions = client.get(f"/v1/items/{item['id']}/decisions", headers=auth(keys["reviewer"])).json()
    assert len(decisions) == 1
    d = decisions[0]
    assert d["rule_set_version"] == 0 and d["fired"][0]["rule"] == "bank-block" and d["automated"] is True
    assert "block bank bank-block" in d["fired"][0]["because"]
    assert d["facts"]["matches"][0]["bank"] == "bank-block" and d["facts"]["scores"] == {}
    assert d["facts"]["account"] == {"id": "acct-1", "strikes": 0, "suspended": False, "looked_up": False}
    assert d["actions"] == [{"type": "block", "rule": "bank-block", "status": "done", "result": {}}]
    assert client.get("/v1/items/nope/decisions", headers=auth(keys["reviewer"])).status_code == 404


def test_put_rules_versioned_and_invalid_rules_leave_old_in_force(client: TestClient, keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    assert client.get("/v1/rules", headers=admin).json()["version"] == 0
    assert client.get("/v1/rules", headers=auth(keys["reviewer"])).status_code == 403
    r = client.put("/v1/rules", content=POLICY, headers={**admin, "content-type": "application/yaml"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["rules"][1]["id"] == "imminent"
    bad = POLICY.replace("queue: high", "queue: asap")
    r = client.put("/v1/rules", json={"source": bad, "note": "oops"}, headers=admin)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_rules" and body["detail"][0]["line"] == 29, body
    assert "line 29" in body["message"]
    now = client.get("/v1/rules", headers=admin).json()
    assert now["version"] == 1 and now["source"] == POLICY
    assert [h["version"] for h in client.get("/v1/rules/history", headers=admin).json()] == [1]
    r = client.put("/v1/rules", json={"source": DEFAULT_RULES, "note": "back"}, headers=admin)
    assert r.json()["version"] == 2
    # the same rules again (a retried PUT) are the version in force, not a new one; a change back is new
    again = client.put("/v1/rules", json={"source": DEFAULT_RULES, "note": "retry"}, headers=admin)
    assert again.status_code == 200 and again.json()["version"] == 2 and again.json()["note"] == "back"
    assert [h["version"] for h in client.get("/v1/rules/history", headers=admin).json()] == [2, 1]
    assert client.put("/v1/rules", content=POLICY, headers={**admin, "content-type": "application/yaml"}
                      ).json()["version"] == 3
    assert client.put("/v1/rules", json={"source": DEFAULT_RULES}, headers=admin).json()["version"] == 4
    assert client.get("/v1/rules?version=1", headers=admin).json()["source"] == POLICY
    assert client.get("/v1/rules?version=9", headers=admin).status_code == 404
    assert client.post("/v1/rules/validate", content="rules: 3", headers=admin).status_code == 422


def test_a_save_during_another_waits_for_it_and_answers_its_version(engine: Engine) -> None:
    """A save that reads the newest version while another save is storing the same rules must wait for it,
    or both store a version (what copies of one PUT sent at once did)."""
    source = DEFAULT_RULES + "\n# reviewed\n"
    saved: list[RuleSet] = []
    with engine.db.session() as s:
        lock_table_for_append(s, RuleSetRow.__tablename__)
        s.add(RuleSetRow(source=source, created_by="first", note="", created_at=utcnow()))
        s.flush()
        second = threading.Thread(target=lambda: saved.append(engine.rules.save(source, created_by="second")))
        second.start()
        second.join(1.5)
        assert second.is_alive(), "the second save went ahead while the first was storing"
    second.join(30)
    assert [r.created_by for r in saved] == ["first"]
    with engine.db.session() as s:
        assert s.scalar(select(func.count()).select_from(RuleSetRow)) == 1


def test_rules_change_decisions_and_crisis_mode(client: TestClient, keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    tighten = """\
rules:
  - id: crisis-block
    when: {crisis_mode: true, match: {bank_kind: block}}
    then: [block]
  - id: calm-label
    when: {crisis_mode: false, match: {bank_kind: block}}
    then: [{label: "Sensitive"}]
"""
    assert client.put("/v1/rules", content=tighten, headers=admin).status_code == 200
    first = _seed_item(client, keys, action="review")
    assert first["verdict"] == "label" and first["actions"][0] == {  # type: ignore[index]
        "type": "label", "text": "Sensitive", "rule": "calm-label"}
    assert client.put("/v1/rules/crisis-mode", json={"enabled": True}, headers=admin).json() == {"enabled": True}
    assert client.get("/v1/rules/crisis-mode", headers=auth(keys["reviewer"])).json() == {"enabled": True}
    second = _seed_item(client, keys, action="review")
    assert second["verdict"] == "block"


def test_dry_run_item_and_synthetic_facts(client: TestClient, keys: dict[str, str]) -> None:
    admin, reviewer = auth(keys["admin"]), auth(keys["reviewer"])
    item = _seed_item(client, keys)
    r = client.post("/v1/rules/dry-run", json={"item_id": item["id"]}, headers=admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["verdict"] == "block" and out["fired"] == ["bank-block"] and out["rule_set_version"] == 0
    fired = next(t for t in out["rules"] if t["rule"] == "bank-block")
    assert "block bank bank-block" in fired["because"] and fired["line"] > 0
    assert next(t for t in out["rules"] if t["rule"] == "allow-bank")["because"].startswith("no match fits")
    facts = {"matches": [{"bank": "x", "labels": ["behaviour:imminent-credible-threat"]}],
             "account": {"id": "u", "strikes": 3}, "scores": {"tvec": 0.99}, "language": "de"}
    r = client.post("/v1/rules/dry-run", json={"facts": facts, "source": POLICY}, headers=admin)
    out = r.json()
    assert out["fired"] == ["imminent", "repeat-offender"], out
    assert [a["type"] for a in out["actions"]] == ["block", "queue", "escalate", "strike", "suspend"]
    # nothing was stored or done by the dry run
    assert client.get("/v1/rules", headers=admin).json()["version"] == 0
    assert client.get("/v1/accounts/u", headers=reviewer).status_code == 404
    for body, status in [({}, 422), ({"item_id": "nope"}, 404), ({"facts": {"bogus": 1}}, 422),
                         ({"facts": {}, "source": "rules: [1]"}, 422),
                         ({"item_id": item["id"], "facts": {}}, 422)]:
        r = client.post("/v1/rules/dry-run", json=body, headers=admin)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()) >= {"code", "message"}
    for role in ("submitter", "reviewer"):  # candidate rules are arbitrary YAML and the answer shows the policy
        r = client.post("/v1/rules/dry-run", json={"facts": {}}, headers=auth(keys[role]))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_rules_cli_show_set_dry_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seawall.cli import app

    env = {"SEAWALL_DATA_DIR": str(tmp_path / "data"), "SEAWALL_DATABASE_URL": ""}
    runner = CliRunner()

    def cli(*args: str) -> Result:
        return runner.invoke(app, ["rules", *args], env=env)

    shown = cli("show")
    assert shown.exit_code == 0 and "id: allow-bank" in shown.stdout
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY)
    bad.write_text(POLICY.replace("[block, escalate, strike]", "[block, explode]"))
    r = cli("set", str(bad))
    assert r.exit_code == 2 and "line 10:" in r.stderr and "explode" in r.stderr, r.stderr
    assert cli("validate", str(bad)).exit_code == 2
    assert cli("validate", str(good)).exit_code == 0
    assert cli("set", str(good)).exit_code == 0
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"matches": [{"bank": "b", "labels": ["behaviour:imminent-x"]}]}))
    r = cli("dry-run", "--facts", str(facts))
    assert r.exit_code == 0 and "verdict: block" in r.stdout and "FIRES imminent (line 6)" in r.stdout, r.stdout
    r = cli("dry-run", "--facts", str(facts), "--rules", str(bad))
    assert r.exit_code == 2 and "line 10" in r.stderr
    assert cli("dry-run", "--item", "missing").exit_code == 2
    assert cli("show").stdout == POLICY


def test_facts_to_dict_is_asdict_for_every_field() -> None:
    """The written-out ``Facts.to_dict`` stays what ``dataclasses.asdict`` gives, including fields added later."""
    from dataclasses import asdict, fields

    facts = Facts(
        matches=[MatchFact(bank="b", bank_kind="block", bank_action="review", labels=["x", "y"], distance=3,
                           signal_type="pdq", entry_id=7, sources=["ex"], source_count=1),
                 MatchFact(bank="c", bank_kind="allow", bank_action="allow", labels=[], distance=0,
                           signal_type="md5")],
        scores={"violence": 0.5}, account=AccountFact("acc", strikes=2, suspended=True, looked_up=False),
        language="de", crisis_mode=True, content_type="text", deferred=True)
    out = facts.to_dict()
    assert out == asdict(facts)
    assert list(out) == [f.name for f in fields(Facts)]
    assert list(out["matches"][0]) == [f.name for f in fields(MatchFact)]
    assert list(out["account"]) == [f.name for f in fields(AccountFact)]
    assert out["matches"][0]["labels"] is not facts.matches[0].labels  # a copy, as asdict makes
    assert Facts().to_dict() == asdict(Facts())


def test_needs_account_is_the_walk_over_every_rules_conditions() -> None:
    """The remembered answer is the one the walk over each rule's condition tree gives, for rule sets with
    the account condition at the top, nested under any/all/not, and nowhere."""
    from seawall.rules.conditions import AccountCondition, uses

    nested = POLICY.replace("      account: {min_strikes: 2, suspended: false}\n      matched: true\n",
                            "      not: {any: [{account: {min_strikes: 2}}, {matched: false}]}\n")
    without = POLICY.replace("      account: {min_strikes: 2, suspended: false}\n", "")
    expected = {POLICY: True, nested: True, without: False, DEFAULT_RULES: None}
    for source, want in expected.items():
        rules = parse_rules(source, KINDS)
        walked = any(uses(r.when, AccountCondition) for r in rules.rules)
        assert want is None or walked is want
        assert rules.needs_account is walked
        assert rules.needs_account is walked  # asked again: the remembered answer


def test_match_condition_words_are_made_once_and_stay_the_same() -> None:
    """The compiled rule set quotes a match condition's words in every evaluation; they are made on first
    use and kept, and every evaluation says the same as a freshly parsed rule set does."""
    from seawall.rules.conditions import AllCondition, MatchCondition

    rules = parse_rules(POLICY, KINDS)
    conds = [c for r in rules.rules for c in (r.when, *getattr(r.when, "parts", []))
             if isinstance(c, MatchCondition)]
    assert conds
    for facts in (Facts(), Facts(matches=[m(bank="other", kind="allow", action="allow")]), Facts(matches=[m()])):
        first = [(t.rule, t.fired, t.because) for t in evaluate(rules, facts, VERDICT_OF).trace]
        again = [(t.rule, t.fired, t.because) for t in evaluate(rules, facts, VERDICT_OF).trace]
        fresh = [(t.rule, t.fired, t.because) for t in evaluate(parse_rules(POLICY, KINDS), facts, VERDICT_OF).trace]
        assert first == again == fresh
    cond = conds[0]
    words = cond.describe()
    assert cond.describe() is words  # kept, not rebuilt
    assert words == MatchCondition(**{f: getattr(cond, f) for f in ("bank", "bank_kind", "bank_action", "label",
                                                                     "signal_type", "max_distance", "source",
                                                                     "min_sources")})._words()
    assert MatchCondition(bank=["x"], max_distance=3) == MatchCondition(bank=["x"], max_distance=3)
    described = MatchCondition(bank=["x"], max_distance=3)
    described.describe()
    assert described == MatchCondition(bank=["x"], max_distance=3)  # the kept words do not count in equality
    assert "distance ≤ 3" in AllCondition([described]).test(Facts())[1]
