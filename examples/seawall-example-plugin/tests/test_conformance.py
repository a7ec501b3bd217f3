"""The example plugin checked by Seawall's conformance kit, as any plugin's own tests would do."""

from __future__ import annotations

from pathlib import Path

import pytest
from seawall_example_plugin import register
from seawall_example_plugin.action import NotifyPartnerAction
from seawall_example_plugin.exchange import LocalFileExchange
from seawall_example_plugin.signal import Crc32Signal

from seawall.media.content import Content
from seawall.testing import ActionAutoTest, ExchangeAutoTest, SignalTypeAutoTest


class TestCrc32Signal(SignalTypeAutoTest):
    def get_signal_type(self) -> Crc32Signal:
        return Crc32Signal()

    def get_samples(self) -> list[Content]:
        return [Content("text", text="A generated note, number one"),
                Content("example_note", data=b"Another GENERATED note")]

    def get_register_hook(self):  # type: ignore[no-untyped-def]
        return register


class TestNotifyPartner(ActionAutoTest):
    def get_action(self) -> NotifyPartnerAction:
        return NotifyPartnerAction()

    def get_valid_options(self) -> list[object]:
        return [{"partner": "acme"}]

    def get_invalid_options(self) -> list[object]:
        return [None, "acme", {"partner": ""}, {"partner": "acme", "extra": 1}]

    def get_register_hook(self):  # type: ignore[no-untyped-def]
        return register


class TestLocalFileExchange(ExchangeAutoTest):
    @pytest.fixture(autouse=True)
    def _file(self, tmp_path: Path) -> None:
        self.path = tmp_path / "shared.txt"
        self.path.write_text("# generated\nexample_crc32 0badc0de\nmd5 " + "ab" * 16 + "\n", encoding="utf-8")

    def get_exchange(self) -> LocalFileExchange:
        return LocalFileExchange(self.path, page_size=1)

    def get_register_hook(self):  # type: ignore[no-untyped-def]
        return register
