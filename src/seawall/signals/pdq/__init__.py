"""PDQ, the image signal: the signal type (:mod:`.signal`) and the index it declares (:mod:`.index`, built
on the multi-index hashing kernels of :mod:`.mih`).

The package owns both, so the index lives beside the hash it searches and nothing in ``seawall.index``
knows about PDQ. :class:`.index.Hamming256Index` also serves the other 256-bit hashes (``pdq_crop``,
``signals/base.py``'s ``hamming256`` index kind, account avatars).
"""
