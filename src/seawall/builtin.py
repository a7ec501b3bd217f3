"""Registers Seawall's own extensions, exactly as a plugin package would.

Published as the ``builtin`` entry point of the ``seawall.plugins`` group and loaded first, through
the same code as any third-party plugin (:func:`seawall.plugins.load_registry`).
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.plugins import Registry

#: Kinds of upload the API accepts out of the box.
CONTENT_TYPE_DESCRIPTIONS: dict[str, str] = {
    "image": "A picture (JPEG, PNG, WebP, GIF…): digests, PDQ and its rotations, OCR text.",
    "file": "Any file, matched by its digests only.",
    "text": "A text: exact and near-duplicate text signals, links and domains.",
    "video": "A video: digests at once, vPDQ frame hashes in the background.",
}


@dataclass(frozen=True, slots=True)
class ConnectorInfo:
    """A connector shipped beside Seawall (it runs inside the platform, talking to the API)."""

    name: str
    description: str


def register(reg: Registry) -> None:
    from seawall.sharing.pytx_lines import PytxLinesFormat
    from seawall.sharing.tcap_csv import TcapCsvFormat
    from seawall.sharing.text_lines import TextLinesFormat
    from seawall.sharing.vpdq_format import VpdqLinesFormat
    from seawall.signals.domain import DomainSignal
    from seawall.signals.md5 import Md5Signal
    from seawall.signals.orb import OrbSignal
    from seawall.signals.pdq.signal import PdqSignal
    from seawall.signals.pdq_crop import PdqCropSignal
    from seawall.signals.sha256 import Sha256Signal
    from seawall.signals.text_fingerprint import TextFingerprintSignal
    from seawall.signals.text_minhash.signal import TextMinHashSignal
    from seawall.signals.text_sha256 import TextSha256Signal
    from seawall.signals.text_tlsh import TextTlshSignal
    from seawall.signals.tlsh.signal import TlshSignal
    from seawall.signals.trend_query import TrendQuerySignal
    from seawall.signals.url import UrlSignal
    from seawall.signals.url_md5 import UrlMd5Signal
    from seawall.signals.url_prefix import UrlPrefixSignal
    from seawall.signals.vpdq.signal import VpdqSignal

    reg.add_signal_type(Md5Signal())
    reg.add_signal_type(Sha256Signal())
    reg.add_signal_type(PdqSignal())
    reg.add_signal_type(PdqCropSignal())
    reg.add_signal_type(OrbSignal())
    reg.add_signal_type(VpdqSignal())
    reg.add_signal_type(TextSha256Signal())
    reg.add_signal_type(TextMinHashSignal())
    reg.add_signal_type(TextFingerprintSignal())
    reg.add_signal_type(TlshSignal())
    reg.add_signal_type(TextTlshSignal())
    reg.add_signal_type(UrlSignal())
    reg.add_signal_type(UrlMd5Signal())
    reg.add_signal_type(UrlPrefixSignal())
    reg.add_signal_type(DomainSignal())
    reg.add_signal_type(TrendQuerySignal())
    reg.add_hashlist_format(TextLinesFormat())
    reg.add_hashlist_format(TcapCsvFormat())
    reg.add_hashlist_format(VpdqLinesFormat())
    reg.add_hashlist_format(PytxLinesFormat())
    _register_actions(reg)
    _register_content_and_events(reg)


def _register_content_and_events(reg: Registry) -> None:
    from seawall.models.records import CONTENT_TYPES
    from seawall.webhooks.events import EVENT_TYPES

    for name in CONTENT_TYPES:
        reg.add_content_type(name, CONTENT_TYPE_DESCRIPTIONS.get(name, ""))
    for event, description in EVENT_TYPES.items():
        reg.add_event_type(event, description)
    reg.add_connector(ConnectorInfo(
        "matrix-synapse", "Synapse module (connectors/synapse): checks uploads and messages before they are "
        "stored, acts on item.removed and account.suspended events."))
    _register_exchanges(reg)


def _register_exchanges(reg: Registry) -> None:
    from seawall.sharing.exchanges.file import FileFeedExchange
    from seawall.sharing.exchanges.seawall import SeawallFeedExchange
    from seawall.sharing.exchanges.tat import TechAgainstTerrorismExchange
    from seawall.sharing.exchanges.threatexchange import ThreatExchangeExchange

    reg.add_exchange(SeawallFeedExchange)
    reg.add_exchange(FileFeedExchange)
    reg.add_exchange(TechAgainstTerrorismExchange)
    reg.add_exchange(ThreatExchangeExchange)


def _register_actions(reg: Registry) -> None:
    from seawall.actions.allow import AllowAction
    from seawall.actions.block import BlockAction
    from seawall.actions.escalate import EscalateAction
    from seawall.actions.label import LabelAction
    from seawall.actions.queue import QueueAction
    from seawall.actions.remove import RemoveAction
    from seawall.actions.strike import StrikeAction
    from seawall.actions.suspend import SuspendAction

    reg.add_action(AllowAction())
    reg.add_action(BlockAction())
    reg.add_action(RemoveAction())
    reg.add_action(LabelAction())
    reg.add_action(QueueAction())
    reg.add_action(EscalateAction())
    reg.add_action(StrikeAction())
    reg.add_action(SuspendAction())
