"""MinHash of normalised text shingles: the signal type (:mod:`.signal`) and its LSH index (:mod:`.index`).

The package owns both, so the index reads the signature layout without an import going down from
``seawall.index`` to ``seawall.signals``.
"""
