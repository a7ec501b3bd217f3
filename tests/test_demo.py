"""The demo seed in the test process, with one generated image per bank: the fast-loop twin of the CLI test.

``tests/test_cli.py::test_demo_seed_blocks_copies_and_allows_others`` runs ``seawall demo seed`` (five
images, twice) and ``seawall match``; it is marked ``slow`` because it hashes a dozen 960×720 images.
This test checks the same promises on the smallest seed: seeding twice is harmless, the sample copies
(re-encoded, resized, rotated) are blocked and the unrelated and news images are allowed.
"""

from __future__ import annotations

from pathlib import Path

from seawall.demo import ALLOW_BANK, BLOCK_BANK, seed
from seawall.engine import Engine


def test_demo_seed_twice_blocks_copies_and_allows_others(engine: Engine, tmp_path: Path) -> None:
    summary = seed(engine, tmp_path, count=1)
    assert seed(engine, tmp_path, count=1) == summary  # idempotent
    assert sorted(b.name for b in engine.banks.list_banks()) == sorted([ALLOW_BANK, BLOCK_BANK])
    verdicts = {}
    for name in ("known.jpg", "known-reencoded.jpg", "known-rotated.jpg", "unrelated.jpg", "news.jpg"):
        item = engine.submit(engine.content("image", data=(tmp_path / name).read_bytes()), content_id=name)
        verdicts[name] = (item.verdict.verdict, {m.bank_name for m in item.verdict.matches})
    assert verdicts == {"known.jpg": ("block", {BLOCK_BANK}), "known-reencoded.jpg": ("block", {BLOCK_BANK}),
                        "known-rotated.jpg": ("block", {BLOCK_BANK}), "unrelated.jpg": ("allow", set()),
                        "news.jpg": ("allow", {ALLOW_BANK})}
