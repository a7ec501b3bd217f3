"""The conformance kit (``seawall.testing``) holds Seawall's own built-ins to the rules it sets plugins,
and fails a plugin that breaks them with a sentence naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.actions.label import LabelAction
from seawall.media.content import Content
from seawall.models.records import Action, ComputedSignal
from seawall.sharing.base import HashListFormat
from seawall.sharing.text_lines import TextLinesFormat
from seawall.signals.base import SignalType
from seawall.signals.md5 import Md5Signal
from seawall.signals.pdq.signal import PdqSignal
from seawall.testing import ActionAutoTest, HashListFormatAutoTest, SignalTypeAutoTest

from .conftest import encode, textured_image


class TestPdqConforms(SignalTypeAutoTest):
    def get_signal_type(self) -> SignalType:
        return PdqSignal()

    def get_samples(self) -> list[Content]:
        return [Content("image", data=encode(textured_image(s))) for s in (1, 2)]


class TestMd5Conforms(SignalTypeAutoTest):
    def get_signal_type(self) -> SignalType:
        return Md5Signal()

    def get_samples(self) -> list[Content]:
        return [Content("file", data=b"generated one"), Content("text", text="generated two")]


class TestTextLinesConforms(HashListFormatAutoTest):
    def get_format(self) -> HashListFormat:
        return TextLinesFormat()

    def get_sample_lines(self) -> list[str]:
        return ["# generated", "md5 " + "0f" * 16, "pdq " + "a5" * 32]


class TestLabelConforms(ActionAutoTest):
    def get_action(self) -> ActionExecutor:
        return LabelAction()

    def get_valid_options(self) -> list[Any]:
        return ["This content may contain violent extremist material."]


class SloppySignal(Md5Signal):
    """Computes values it would itself refuse (upper case), so a bank could never hold them."""

    name = "sloppy"

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        return [ComputedSignal(self.name, c.value.upper()) for c in super().compute(content)]


class LoudAction(ActionExecutor):
    name = "loud"
    description = "emits an event nobody registered"

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        ctx.emit("nobody.registered", ctx.item_ref())
        return ActionResult()


def test_kit_fails_a_signal_that_computes_unnormalised_values() -> None:
    class Check(SignalTypeAutoTest):
        def get_signal_type(self) -> SignalType:
            return SloppySignal()

        def get_samples(self) -> list[Content]:
            return [Content("file", data=b"generated")]

    with pytest.raises(AssertionError, match="normal form"):
        Check().test_compute_is_deterministic_and_normalised()


def test_kit_fails_an_action_emitting_unregistered_events() -> None:
    class Check(ActionAutoTest):
        def get_action(self) -> ActionExecutor:
            return LoudAction()

    with pytest.raises(AssertionError, match=r"nobody\.registered"):
        Check().test_runs_in_a_real_decision()
