"""TLSH, the long-text signal: the signal type (:mod:`.signal`) and the index it declares (:mod:`.index`).

The package owns both, so the index lives beside the digest it searches and nothing in
``seawall.index`` knows about TLSH.
"""
