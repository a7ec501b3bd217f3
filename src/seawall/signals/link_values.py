"""What the four link signals (``url``, ``url_prefix``, ``domain``, ``url_md5``) share when computing.

Links are computed for queries only: banking a text does not bank every link it contains (a propaganda
post may well link a news site); links are banked explicitly. Each signal differs only in which value it
derives from the text's links, so that is the one thing it passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from seawall.media.content import Content
from seawall.models.records import ComputedSignal


def link_signals(signal_type: str, content: Content, values: Callable[[str], Iterable[str]], *,
                 for_query: bool) -> list[ComputedSignal]:
    """``signal_type`` signals for each distinct value ``values`` finds in the content's text (in order of
    appearance), or none when this is not a query or the content has no text."""
    if not for_query:
        return []
    text = content.signal_text(for_query=True)
    if not text:
        return []
    return [ComputedSignal(type=signal_type, value=v) for v in dict.fromkeys(values(text))]
