"""Registers Seawall's own signal types, formats and actions, exactly as a plugin package would."""

from __future__ import annotations

from seawall.plugins import Registry


def register(reg: Registry) -> None:
    from seawall.sharing.tcap_csv import TcapCsvFormat
    from seawall.sharing.text_lines import TextLinesFormat
    from seawall.sharing.vpdq_format import VpdqLinesFormat
    from seawall.signals.domain import DomainSignal
    from seawall.signals.md5 import Md5Signal
    from seawall.signals.pdq import PdqSignal
    from seawall.signals.pdq_crop import PdqCropSignal
    from seawall.signals.sha256 import Sha256Signal
    from seawall.signals.text_fingerprint import TextFingerprintSignal
    from seawall.signals.text_minhash import TextMinHashSignal
    from seawall.signals.text_sha256 import TextSha256Signal
    from seawall.signals.tlsh import TlshSignal
    from seawall.signals.url import UrlSignal
    from seawall.signals.url_prefix import UrlPrefixSignal
    from seawall.signals.vpdq import VpdqSignal

    reg.add_signal_type(Md5Signal())
    reg.add_signal_type(Sha256Signal())
    reg.add_signal_type(PdqSignal())
    reg.add_signal_type(PdqCropSignal())
    reg.add_signal_type(VpdqSignal())
    reg.add_signal_type(TextSha256Signal())
    reg.add_signal_type(TextMinHashSignal())
    reg.add_signal_type(TextFingerprintSignal())
    reg.add_signal_type(TlshSignal())
    reg.add_signal_type(UrlSignal())
    reg.add_signal_type(UrlPrefixSignal())
    reg.add_signal_type(DomainSignal())
    reg.add_hashlist_format(TextLinesFormat())
    reg.add_hashlist_format(TcapCsvFormat())
    reg.add_hashlist_format(VpdqLinesFormat())
    _register_actions(reg)


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
