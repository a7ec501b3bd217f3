"""Hostile rules YAML: deep nesting and huge documents are refused with a clean 422, never a crash.

PyYAML's composer recurses once per nesting level and its scanner is quadratic in flow nesting, so a
10,000-level document used to raise ``RecursionError`` (a 500) or burn half a minute of CPU.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from seawall.plugins import registry
from seawall.rules.language import MAX_YAML_DEPTH, MAX_YAML_NODES, RulesInvalid, parse_rules

from .conftest import auth

HEAD = "version: 1\nrules:\n  - id: deep\n    then:\n      - block\n"


def flow_nested(levels: int) -> str:
    """An action option nested ``levels`` deep in flow style: ``{a: [[[…]]]}``."""
    return HEAD + "      - webhook: {a: " + "[" * levels + "]" * levels + "}\n"


def block_nested(levels: int) -> str:
    """Conditions nested ``levels`` deep in block style (indentation), cut at the 256 KiB size limit."""
    out = "version: 1\nrules:\n  - id: deep\n    then: [block]\n    when:\n"
    for i in range(levels):
        line = " " * (6 + 2 * i) + "not:\n"
        if len(out) + len(line) >= 256 * 1024:
            break
        out += line
    return out


KINDS = registry().action_types


@pytest.mark.parametrize("levels", [MAX_YAML_DEPTH + 1, 500, 10_000, 100_000])
@pytest.mark.parametrize("shape", [flow_nested, block_nested])
def test_deep_nesting_is_refused_with_a_line(levels: int, shape: object) -> None:
    source = shape(levels)  # type: ignore[operator]
    with pytest.raises(RulesInvalid) as exc:
        parse_rules(source, KINDS)
    assert exc.value.code == "invalid_rules"
    assert f"nested more than {MAX_YAML_DEPTH} levels" in exc.value.errors[0].message
    assert exc.value.errors[0].line >= 4


def test_nesting_within_the_limit_is_still_parsed() -> None:
    # an action option nested a few levels is legal YAML and reaches the action's own checks
    source = HEAD + "      - webhook: {a: [[[1]]]}\n"
    with pytest.raises(RulesInvalid) as exc:
        parse_rules(source, KINDS)
    assert "nested more than" not in str(exc.value)


def test_too_many_values_are_refused() -> None:
    source = HEAD + "      - webhook: {a: [" + ",".join(["1"] * (MAX_YAML_NODES + 1)) + "]}\n"
    with pytest.raises(RulesInvalid) as exc:
        parse_rules(source, KINDS)
    assert f"more than {MAX_YAML_NODES:,} YAML values" in exc.value.errors[0].message


@pytest.mark.parametrize("levels", [500, 10_000])
def test_api_answers_422_for_deep_rules(client: TestClient, keys: dict[str, str], levels: int) -> None:
    admin = auth(keys["admin"])
    before = client.get("/v1/rules", headers=admin).json()["version"]
    for source in (flow_nested(levels), block_nested(levels)):
        r = client.put("/v1/rules", content=source, headers={**admin, "content-type": "application/yaml"})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_rules" and "nested more than" in r.json()["message"]
        r = client.post("/v1/rules/validate", content=source, headers={**admin, "content-type": "application/yaml"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_rules"
        r = client.post("/v1/rules/dry-run", json={"facts": {}, "source": source}, headers=admin)
        assert r.status_code == 422 and r.json()["code"] == "invalid_rules"
    assert client.get("/v1/rules", headers=admin).json()["version"] == before  # nothing changed


def test_brackets_in_quotes_and_comments_do_not_count_as_nesting() -> None:
    many = "[" * (MAX_YAML_DEPTH + 5)
    source = (f"# {many}\nversion: 1\nrules:\n  - id: quoted\n    description: \"{many}\"\n"
              f"    when: {{language: ['{many}']}}\n    then: [block]\n")
    rules = parse_rules(source, KINDS)
    assert [r.id for r in rules.rules] == ["quoted"]
