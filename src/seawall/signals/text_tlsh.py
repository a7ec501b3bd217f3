"""TLSH of the text exactly as written (``text_tlsh``), for partner lists hashed by python-threatexchange.

Seawall's own ``tlsh`` hashes the de-obfuscated, normalised text, which finds more; but a list hashed
with pytx's text TLSH (its ``tlsh`` type: the raw text's UTF-8 bytes) can only be matched by hashing
the upload the same way. This signal does that, and the ``pytx`` hash-list format reads pytx's ``tlsh``
lines into it. Distance: ``tlsh.diff`` with the length term, as for ``tlsh`` (pytx compares without it,
so Seawall is the stricter of the two at one threshold).
"""

from __future__ import annotations

from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.tlsh.signal import TlshSignal, tlsh_digest


class TextTlshSignal(TlshSignal):
    name = "text_tlsh"
    seawall_only = False

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        text = content.signal_text(for_query=for_query)
        if not text:
            return []
        digest = tlsh_digest(text.encode("utf-8"))
        return [ComputedSignal(type=self.name, value=digest)] if digest else []
