"""Registers Seawall's own signal types and formats, exactly as a plugin package would."""

from __future__ import annotations

from seawall.plugins import Registry


def register(reg: Registry) -> None:
    from seawall.sharing.tcap_csv import TcapCsvFormat
    from seawall.sharing.text_lines import TextLinesFormat
    from seawall.signals.domain import DomainSignal
    from seawall.signals.md5 import Md5Signal
    from seawall.signals.pdq import PdqSignal
    from seawall.signals.sha256 import Sha256Signal
    from seawall.signals.text_minhash import TextMinHashSignal
    from seawall.signals.text_sha256 import TextSha256Signal
    from seawall.signals.tlsh import TlshSignal
    from seawall.signals.url import UrlSignal
    from seawall.signals.url_prefix import UrlPrefixSignal

    reg.add_signal_type(Md5Signal())
    reg.add_signal_type(Sha256Signal())
    reg.add_signal_type(PdqSignal())
    reg.add_signal_type(TextSha256Signal())
    reg.add_signal_type(TextMinHashSignal())
    reg.add_signal_type(TlshSignal())
    reg.add_signal_type(UrlSignal())
    reg.add_signal_type(UrlPrefixSignal())
    reg.add_signal_type(DomainSignal())
    reg.add_hashlist_format(TextLinesFormat())
    reg.add_hashlist_format(TcapCsvFormat())
