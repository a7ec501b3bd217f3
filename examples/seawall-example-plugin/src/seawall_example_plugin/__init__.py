"""A worked example of a Seawall plugin (see README.md): everything is registered in ``register``."""

from __future__ import annotations

import os
from pathlib import Path

from seawall.plugins import Registry
from seawall_example_plugin.action import EVENT_TYPE, NotifyPartnerAction
from seawall_example_plugin.exchange import LocalFileExchange
from seawall_example_plugin.signal import CONTENT_TYPE, Crc32Signal

#: Where the exchange reads its list; a deployment points it elsewhere.
EXCHANGE_FILE_ENV = "SEAWALL_EXAMPLE_EXCHANGE_FILE"


def register(reg: Registry) -> None:
    """Called once by Seawall at start-up with its registry (entry point group ``seawall.plugins``)."""
    reg.add_content_type(CONTENT_TYPE, "A short note uploaded as a file part (UTF-8 text).")
    reg.add_signal_type(Crc32Signal())
    reg.add_event_type(EVENT_TYPE, "A partner platform was told about an item (example plugin).")
    reg.add_action(NotifyPartnerAction())
    reg.add_exchange(LocalFileExchange(Path(os.environ.get(EXCHANGE_FILE_ENV, "example-exchange.txt"))))
