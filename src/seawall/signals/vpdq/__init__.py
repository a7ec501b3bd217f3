"""vPDQ, the video signal: the signal type (:mod:`.signal`) and the index it declares (:mod:`.index`).

The package owns both, so the index reads the signal's frame encoding without an import going down
from ``seawall.index`` to ``seawall.signals``.
"""
