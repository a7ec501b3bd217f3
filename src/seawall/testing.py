"""Conformance kit: what a plugin's own tests run to check it behaves as Seawall expects.

A plugin's test module subclasses one class per extension and answers a few questions about it;
pytest collects the inherited ``test_*`` methods (name the subclass ``Test…``)::

    from seawall.testing import SignalTypeAutoTest

    class TestMySignal(SignalTypeAutoTest):
        def get_signal_type(self):
            return MySignal()

        def get_samples(self):
            return [Content("text", text="a generated sample")]

Each check says what Seawall relies on, so a failure reads as a sentence about the plugin, not a
stack trace from deep inside matching. The kit uses Seawall's real parts (a real index, a real
engine on a temporary SQLite store for actions), never stand-ins.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from seawall.actions.base import ActionExecutor, ActionResult
from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.models.records import ACTION_SEVERITY, BankEntry
from seawall.plugins import Exchange, Hook, Registry, load_registry
from seawall.sharing.base import HashListFormat, ParsedEntry, RejectedLine
from seawall.signals.base import SignalType

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")


def _check_name(kind: str, name: object) -> None:
    assert isinstance(name, str) and _NAME.match(name), (
        f"a {kind} name must be lower-case letters, digits, '_', '-' or '.', starting with a letter "
        f"(it appears in rules, hash lists and URLs); got {name!r}")


def registry_with(hook: Hook | None, plugin: str = "plugin-under-test") -> Registry:
    """Seawall's built-ins plus the plugin's hook, loaded exactly as at start-up (duplicates refused)."""
    reg = load_registry(eps=[])
    if hook is not None:
        reg.load(plugin, hook)
    return reg


class _PluginAware:
    def get_register_hook(self) -> Hook | None:
        """The plugin's ``register(reg)`` function, so the kit can check it loads beside the built-ins
        without clashing names; None to skip that check."""
        return None

    def test_plugin_loads_beside_builtins(self) -> None:
        hook = self.get_register_hook()
        if hook is not None:
            registry_with(hook)  # raises PluginError naming the clash or failure


class SignalTypeAutoTest(_PluginAware):
    """Checks a :class:`~seawall.signals.base.SignalType`: naming, normalisation, distance, query
    variants and its own index."""

    def get_signal_type(self) -> SignalType:
        raise NotImplementedError("return an instance of the signal type under test")

    def get_samples(self) -> list[Content]:
        """Generated content the signal computes at least one value from (two or more, differing)."""
        raise NotImplementedError("return generated content the signal applies to")

    def get_invalid_values(self) -> list[str]:
        """Values ``normalize`` must refuse with InvalidInput."""
        return ["", "not a signal value ☃", "0" * 5000]

    # --- checks ---------------------------------------------------------------------------------
    def _stored(self) -> list[str]:
        sig = self.get_signal_type()
        values: list[str] = []
        for content in self.get_samples():
            assert sig.applies_to(content.content_type), (
                f"sample of content type {content.content_type!r} is not in {sig.name}.content_types")
            computed = sig.compute(content, for_query=False)
            assert computed, f"{sig.name} computed nothing from a {content.content_type} sample"
            values.extend(c.value for c in computed)
        return values

    def test_name_and_thresholds(self) -> None:
        sig = self.get_signal_type()
        _check_name("signal type", sig.name)
        assert 0 <= sig.default_threshold <= max(sig.max_threshold, 0), (
            f"{sig.name}: default_threshold {sig.default_threshold} must lie within 0..max_threshold "
            f"({sig.max_threshold})")
        assert sig.variant_names and sig.variant_names[0] == "original", (
            f"{sig.name}: variant_names must start with 'original' (the value itself)")
        for ct in sig.content_types:
            assert isinstance(ct, str) and ct, f"{sig.name}: content_types must be non-empty strings"

    def test_compute_is_deterministic_and_normalised(self) -> None:
        sig = self.get_signal_type()
        for content in self.get_samples():
            first = sig.compute(content, for_query=False)
            again = sig.compute(content, for_query=False)
            assert [(c.type, c.value) for c in first] == [(c.type, c.value) for c in again], (
                f"{sig.name}: computing the same content twice gave different values")
            for c in first:
                assert c.type == sig.name, f"{sig.name}: computed a signal typed {c.type!r}"
                assert sig.normalize(c.value) == c.value, (
                    f"{sig.name}: a computed value must already be in normal form (banks store normalised values)")

    def test_normalize_refuses_garbage(self) -> None:
        sig = self.get_signal_type()
        for bad in self.get_invalid_values():
            try:
                sig.normalize(bad)
            except InvalidInput:
                continue
            raise AssertionError(f"{sig.name}: normalize({bad[:40]!r}) was accepted; bad input must be a 422 "
                                 "(InvalidInput) naming what is wrong")

    def test_distance_is_a_distance(self) -> None:
        sig = self.get_signal_type()
        values = self._stored()
        assert len(set(values)) >= 2, f"{sig.name}: give samples that compute at least two different values"
        for a in values:
            assert sig.distance(a, a) == 0, f"{sig.name}: a value must be at distance 0 from itself"
            for b in values:
                assert sig.distance(a, b) == sig.distance(b, a), f"{sig.name}: distance must be symmetric"
                if a != b:
                    assert sig.distance(a, b) > 0, f"{sig.name}: different values must not be at distance 0"

    def test_query_variants_are_named(self) -> None:
        sig = self.get_signal_type()
        for content in self.get_samples():
            for c in sig.compute(content, for_query=True):
                names = sig.query_variant_names(len(c.variants))
                assert len(names) == 1 + len(c.variants), f"{sig.name}: one name per query form"
                if len(sig.variant_names) > 1:
                    assert len(sig.variant_names) == 1 + len(c.variants), (
                        f"{sig.name}: declares {len(sig.variant_names)} variant names but a query carried "
                        f"{1 + len(c.variants)} forms; matches would be reported under generic names")
                for v in c.variants:
                    assert sig.normalize(v) == v, f"{sig.name}: query variants must be normalised values"

    def test_own_index_finds_stored_values(self) -> None:
        sig = self.get_signal_type()
        values = list(dict.fromkeys(self._stored()))
        index = sig.create_index()
        index.add([(i + 1, v) for i, v in enumerate(values)])
        assert len(index) == len(values), f"{sig.name}: the index should hold every added entry once"
        radius = sig.default_threshold if sig.uses_distance else 0
        hits = index.search(values, radius)
        for i in range(len(values)):
            mine = [h for h in hits if h.query_index == i and h.entry_id == i + 1]
            assert mine and mine[0].distance == 0, f"{sig.name}: its index does not find a stored value itself"
        for h in hits:
            assert h.distance <= radius, f"{sig.name}: the index returned a hit beyond the radius"
        index.remove([(1, values[0])])
        assert all(h.entry_id != 1 for h in index.search([values[0]], radius)), (
            f"{sig.name}: a removed entry is still found")

    def test_registers(self) -> None:
        reg = Registry()
        reg.add_signal_type(self.get_signal_type())
        assert reg.signal(self.get_signal_type().name) is not None


class ActionAutoTest(_PluginAware):
    """Checks an :class:`~seawall.actions.base.ActionExecutor`: options, verdict, and a real run inside
    Seawall's decision transaction (on a temporary SQLite store) emitting only registered events."""

    def get_action(self) -> ActionExecutor:
        raise NotImplementedError("return an instance of the action under test")

    def get_valid_options(self) -> list[Any]:
        """Option values a rule may write (``None`` for the bare word)."""
        return [None]

    def get_invalid_options(self) -> list[Any]:
        """Option values ``parse_params`` must refuse with ValueError."""
        return []

    def test_name_description_verdict(self) -> None:
        action = self.get_action()
        _check_name("action", action.name)
        assert action.description, f"{action.name}: give a description (it is listed to operators)"
        assert action.verdict is None or action.verdict in ACTION_SEVERITY, (
            f"{action.name}: verdict must be None or one of {', '.join(ACTION_SEVERITY)}")

    def test_options(self) -> None:
        action = self.get_action()
        for value in self.get_valid_options():
            params = action.parse_params(value)
            assert isinstance(params, dict), f"{action.name}: parse_params must return a dict"
        for value in self.get_invalid_options():
            try:
                action.parse_params(value)
            except ValueError:
                continue
            raise AssertionError(f"{action.name}: option {value!r} was accepted; a wrong option must raise "
                                 "ValueError so the rules editor can say why")

    def test_runs_in_a_real_decision(self) -> None:
        from seawall.composition import build_engine
        from seawall.config import Settings

        action = self.get_action()
        hook = self.get_register_hook()
        reg = registry_with(hook)
        if action.name not in reg.action_types:  # no hook given: the action alone, beside the built-ins
            reg.load("action-under-test", lambda r: r.add_action(action))
        with tempfile.TemporaryDirectory() as tmp:
            engine = build_engine(Settings(data_dir=Path(tmp)), reg=reg)
            try:
                item = engine.submit(engine.content("text", text=f"generated sample {uuid.uuid4()}"),
                                     content_id=f"c-{uuid.uuid4().hex[:8]}", account_id="acct-kit")
                spec: Any = action.name if self.get_valid_options()[0] is None else {
                    action.name: self.get_valid_options()[0]}
                decision = engine.decide_later(item.id, [spec], decided_by="conformance-kit")
                assert any(a["type"] == action.name for a in decision["actions"]), (
                    f"{action.name}: the decision did not carry the action")
                parsed = engine.actions.parse([spec])[0]
                with engine.db.session() as s:
                    ctx = engine.actions.context(s, engine.items.get(item.id), decision["decision_id"])
                    result = reg.action(action.name).execute(ctx, parsed)
                    s.rollback()
                assert isinstance(result, ActionResult) and result.status in ("done", "skipped"), (
                    f"{action.name}: execute must return an ActionResult with status done or skipped")
                unknown = [t for t, _ in ctx.events if t not in reg.event_types]
                assert not unknown, (f"{action.name}: emits event types no plugin registered ({', '.join(unknown)}); "
                                     "register them with reg.add_event_type so webhooks can subscribe")
            finally:
                engine.close()


class HashListFormatAutoTest(_PluginAware):
    """Checks a :class:`~seawall.sharing.base.HashListFormat`: parses good lines, refuses bad ones
    line by line, and reads back what it writes."""

    def get_format(self) -> HashListFormat:
        raise NotImplementedError("return an instance of the format under test")

    def get_sample_lines(self) -> list[str]:
        """Lines of a valid file (generated values), header included if the format has one."""
        raise NotImplementedError

    def get_bad_lines(self) -> list[str]:
        """Lines that must be refused (a RejectedLine, never an exception)."""
        return ["this is not a hash list line at all ☃"]

    def _parse(self, lines: Iterable[str]) -> tuple[list[ParsedEntry], list[RejectedLine]]:
        good: list[ParsedEntry] = []
        bad: list[RejectedLine] = []
        for p in self.get_format().parse(lines):
            (good if isinstance(p, ParsedEntry) else bad).append(p)  # type: ignore[arg-type]
        return good, bad

    def test_name(self) -> None:
        _check_name("hash-list format", self.get_format().name)

    def test_parses_sample(self) -> None:
        good, bad = self._parse(self.get_sample_lines())
        assert good and not bad, f"sample lines should parse cleanly; rejected: {[b.to_dict() for b in bad]}"
        reg = registry_with(self.get_register_hook())
        for e in good:
            reg.signal(e.signal_type).normalize(e.value)

    def test_bad_lines_are_rejected_not_raised(self) -> None:
        head = self.get_sample_lines()[:1]
        _, bad = self._parse([*head, *self.get_bad_lines()])
        assert len(bad) >= len(self.get_bad_lines()), "every bad line should come back as a RejectedLine"
        for b in bad:
            assert b.reason, "a rejected line must say why"

    def test_round_trip(self) -> None:
        good, _ = self._parse(self.get_sample_lines())
        entries = [BankEntry(id=i + 1, bank_id=1, signal_type=e.signal_type, value=e.value, labels=list(e.labels))
                   for i, e in enumerate(good)]
        written = [line.rstrip("\n") for line in self.get_format().write(entries)]
        again, bad = self._parse(written)
        assert not bad, f"what the format writes it must read back; rejected: {[b.to_dict() for b in bad]}"
        assert [(e.signal_type, e.value) for e in again] == [(e.signal_type, e.value) for e in good], (
            "write() then parse() must give back the same entries")


class ExchangeAutoTest(_PluginAware):
    """Checks an exchange: a name, and — when it can ``pull`` — pages that resume from a checkpoint and
    carry only values Seawall's signal types accept.

    The page shape checked is the least the sync needs: each page has ``entries`` (objects or tuples
    with a signal type and a value) and a ``checkpoint`` to resume after it.
    """

    def get_exchange(self) -> Exchange:
        raise NotImplementedError("return an instance of the exchange under test")

    def test_name(self) -> None:
        _check_name("exchange", self.get_exchange().name)
        reg = Registry()
        reg.add_exchange(self.get_exchange())

    def _pull(self, checkpoint: Any) -> list[Any]:
        pull: Callable[[Any], Iterable[Any]] | None = getattr(self.get_exchange(), "pull", None)
        if pull is None:
            return []
        return list(pull(checkpoint))

    def test_pull_resumes_from_checkpoint(self) -> None:
        exchange = self.get_exchange()
        if getattr(exchange, "pull", None) is None:
            return
        pages = self._pull(None)
        assert pages, f"{exchange.name}: the first pull returned no page (give the test a source with entries)"
        reg = registry_with(self.get_register_hook())
        for page in pages:
            assert hasattr(page, "entries") and hasattr(page, "checkpoint"), (
                f"{exchange.name}: a page needs 'entries' and 'checkpoint'")
            for entry in page.entries:
                stype, value = _entry_signal(entry)
                reg.signal(stype).normalize(value)
        rest = self._pull(pages[-1].checkpoint)
        assert not any(p.entries for p in rest), (
            f"{exchange.name}: pulling from the last checkpoint returned entries again; a crash would re-apply them")


def _entry_signal(entry: Any) -> tuple[str, str]:
    if isinstance(entry, tuple):
        return str(entry[0]), str(entry[1])
    return str(entry.signal_type), str(entry.value)
