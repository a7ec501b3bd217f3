"""Does Seawall find the re-uploads plain PDQ misses (crops, pads, rotations, screenshots, overlays), and at
what false-match rate and cost?

Builds an evaluation set in the run: bank originals are sample photographs shipped inside scikit-image and
scikit-learn (half of them; the other half only feeds distractors) plus generated photo-like pictures;
every transform family of ``tests/robust_media.py`` is applied at several strengths; distractors (new
generated pictures, small crops, mosaics, blends and screenshots of the held-out photographs) are copies of
nothing banked. Every query is sent as JPEG bytes, as an upload would be. Three matchers run on the same
queries, against a bank padded with extra generated pictures (four with the ORB check):

* **plain PDQ**: ``pdqhash`` of the upload against the banked hashes, distance ≤ 31;
* **stage 1**: Seawall's in-request PDQ (decode + eight rotations/flips, ``PdqSignal.compute``);
* **stage 1+2**: plus the queued region work (``seawall.signals.pdq_regions.region_signals``), its extra
  hashes looked up with one batch call;
* **stage 1+2+ORB**: plus near misses (banked pictures within PDQ 80 of any region form, the 6 nearest)
  verified with ORB points and a RANSAC homography (``seawall.signals.orb``, threshold 76).

Prints recall per family and strength, the false-match rate on the distractors, and the cost per upload of
each stage.

Texts: generated in eight languages, each banked text re-posted with every evasion that applies to its
script; recall of the whole-text signals (``text_sha256`` + ``text_minhash``) and of those plus
``text_fingerprint``, and, with ``--baseline-src``, of another Seawall's whole-text signals (the main
branch) in the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_robust.py [--distractors 10000] [--synthetic 24]
        [--texts-only | --images-only] [--baseline-src /path/to/other/seawall/src] [--workers 2]
        [--cache-dir /tmp/seawall-bench-robust]

Ten thousand distractors and every family's uploads are evaluated by ``--workers`` processes (2 at most
on a shared 2-core machine); the distractors' JPEG bytes are generated once per (seed, count, size) and
kept under ``--cache-dir``, so a second run (another branch, ``--baseline-src``) only pays for matching.
With ``--baseline-src`` the uploads of every family are also matched by the other Seawall (its own
stage 1+2+ORB) in the same run, and its recall is printed next to this one's.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.robust_media import FAMILIES, distractor, photo_like, sample_images

from common import machine_summary, markdown_table
from seawall.media.content import Content
from seawall.signals.pdq.index import Hamming256Index
from seawall.signals.pdq.signal import PdqSignal, pdq_from_pixels

U8 = npt.NDArray[np.uint8]
RADIUS = 31
MIN_QUALITY = 50


def upload_bytes(a: U8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, "RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()


def bank_hashes(bank: list[U8]) -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[tuple[int, str]]]:
    """(entry id, pdq) of each banked picture, (entry id, pdq_crop) of its banked crops, and (entry id, orb)."""
    from seawall.signals.orb import OrbSignal
    from seawall.signals.pdq_crop import PdqCropSignal

    # each crop is its own bank entry (an index keeps one value per id): id = picture * CROP_IDS + crop number
    crops = [(i * CROP_IDS + k, s.value) for i, a in enumerate(bank)
             for k, s in enumerate(PdqCropSignal().compute(Content(content_type="image", data=b"", _pixels=a)))
             if (s.quality or 0) >= MIN_QUALITY]
    orb = [(i, s.value) for i, a in enumerate(bank)
           for s in OrbSignal().compute(Content(content_type="image", data=b"", _pixels=a))]
    return [(i, pdq_from_pixels(a)[0]) for i, a in enumerate(bank)], crops, orb


CROP_IDS = 1000
_WORKER: dict[str, Any] = {}


def _init_worker(hashes: list[tuple[int, str]], crops: list[tuple[int, str]], orb: list[tuple[int, str]],
                 pool: list[U8]) -> None:
    _WORKER["m"] = Matchers(hashes, crops, orb)
    _WORKER["pool"] = pool


def _distractor_uploads(seed: int, n: int, cache_dir: str) -> list[bytes]:
    """The JPEG bytes of ``n`` distractors made from ``seed``, generated once and then read from disk."""
    path = Path(cache_dir) / f"distractors-{seed}-{n}-{DISTRACTOR_SIDE}.npz" if cache_dir else None
    if path is not None and path.exists():
        with np.load(path) as z:
            blob, ends = z["blob"].tobytes(), z["ends"]
        return [blob[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    rng = np.random.default_rng(seed)
    out = [upload_bytes(distractor(rng, _WORKER["pool"], size=DISTRACTOR_SIDE)) for _ in range(n)]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, blob=np.frombuffer(b"".join(out), dtype=np.uint8),
                 ends=np.cumsum([len(b) for b in out], dtype=np.int64))
        tmp.replace(path)
    return out


def _distractor_batch(seed: int, n: int, cache_dir: str) -> tuple[list[int], dict[str, float], int]:
    """False matches of each matcher on ``n`` distractors made from ``seed`` (run in a worker process)."""
    m: Matchers = _WORKER["m"]
    m.cost.clear()  # a worker runs several batches: report this batch's own cost and count
    m.calls = 0
    false = [0] * MATCHERS
    for data in _distractor_uploads(seed, n, cache_dir):
        res = m.run(data)
        for k in range(MATCHERS):
            false[k] += bool(res[k])
    return false, dict(m.cost), m.calls


def _positive_batch(uploads: list[tuple[int, bytes]]) -> tuple[list[list[bool]], dict[str, float], int]:
    """For each (banked entry id, upload): whether each matcher found that entry (run in a worker process)."""
    m: Matchers = _WORKER["m"]
    m.cost.clear()
    m.calls = 0
    hits = [[entry_id in found for found in m.run(data)] for entry_id, data in uploads]
    return hits, dict(m.cost), m.calls


#: Distractors are at most this many pixels a side: what they show matters for false matches, not their
#: size, and small ones keep ten thousand of them within minutes.
DISTRACTOR_SIDE = 160


MATCHERS = 4
NAMES = ("plain PDQ", "stage 1", "stage 1+2", "stage 1+2+ORB")


class Matchers:
    """The four matchers over one bank; each returns the set of entry ids an upload matched."""

    def __init__(self, hashes: list[tuple[int, str]], crops: list[tuple[int, str]],
                 orb: list[tuple[int, str]]) -> None:
        from seawall.signals.orb import OrbSignal

        self.orb_signal = OrbSignal()
        self.orb = self.orb_signal.create_index()
        self.orb.add(orb)
        self.index = Hamming256Index()
        self.index.add(hashes)
        # stage 1+2 also sees the crops Seawall banks with each picture (pdq_crop)
        self.crops = Hamming256Index()
        self.crops.add(crops)
        self.signal = PdqSignal()
        self.cost: dict[str, float] = defaultdict(float)
        self.calls = 0

    def run(self, data: bytes) -> tuple[set[int], set[int], set[int], set[int]]:
        from seawall.signals.orb import orb_query_signal
        from seawall.signals.pdq_regions import region_signals
        from seawall.uploads.stages import region_signals_forms

        self.calls += 1
        t0 = time.perf_counter()
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        value, quality = pdq_from_pixels(pixels)
        plain = {c.entry_id for c in self.index.search([value], RADIUS)} if quality >= MIN_QUALITY else set()
        t1 = time.perf_counter()
        content = Content(content_type="image", data=data)
        sig = self.signal.compute(content, for_query=True)[0]
        stage1: set[int] = set()
        if (sig.quality or 0) >= MIN_QUALITY:
            stage1 = {c.entry_id for c in self.index.search([sig.value, *sig.variants], RADIUS)}
        t2 = time.perf_counter()
        stage2: set[int] = set()
        regions = region_signals(content)
        for extra in regions:
            index = self.crops if extra.type == "pdq_crop" else self.index
            found = {c.entry_id for c in index.search([extra.value, *extra.variants], RADIUS)}
            stage2 |= {e // CROP_IDS for e in found} if extra.type == "pdq_crop" else found
        t3 = time.perf_counter()
        verified: set[int] = set()
        query = orb_query_signal(content, [v for forms in region_signals_forms(regions) for v in forms]
                                 or [sig.value])
        if query is not None:
            verified = {c.entry_id for c in self.orb.search([query.value], self.orb_signal.default_threshold)}
        t4 = time.perf_counter()
        self.cost["plain"] += t1 - t0
        self.cost["stage1"] += t2 - t1
        self.cost["stage2"] += t3 - t2
        self.cost["orb"] += t4 - t3
        return plain, stage1, stage1 | stage2, stage1 | stage2 | verified


def text_recall(per_lang: int, distractors: int, padding: int, seed: int) -> dict[str, Any]:
    """Recall per evasion and false matches of the whole-text signals (``text_sha256`` + ``text_minhash``)
    and of those plus ``text_fingerprint`` (when this Seawall has it), on generated texts in 8 languages."""
    from tests.robust_texts import VOCAB, banked_text, evasions, sentence

    from seawall.index.exact import ExactIndex
    from seawall.signals.text_minhash.index import MinHashIndex
    from seawall.signals.text_minhash.signal import TextMinHashSignal
    from seawall.signals.text_sha256 import TextSha256Signal

    try:
        from seawall.signals.text_fingerprint import TextFingerprintSignal
        fingerprint: Any = TextFingerprintSignal()
    except ImportError:
        fingerprint = None
    rng = np.random.default_rng(seed)
    whole: list[tuple[Any, Any]] = [(TextSha256Signal(), ExactIndex()), (TextMinHashSignal(), MinHashIndex())]
    fp_index = fingerprint.create_index() if fingerprint is not None else None
    bank: list[tuple[str, str]] = [(lang, banked_text(rng, lang)) for lang in VOCAB for _ in range(per_lang)]
    langs = list(VOCAB)
    bank += [(lang, banked_text(rng, lang)) for lang in rng.choice(langs, size=padding)]
    for i, (_, text) in enumerate(bank):
        content = Content(content_type="text", text=text)
        for sig, index in whole:
            index.add([(i, c.value) for c in sig.compute(content)])
        if fingerprint is not None:
            fp_index.add([(i, c.value) for c in fingerprint.compute(content)])

    def found(text: str) -> tuple[set[int], set[int]]:
        content = Content(content_type="text", text=text)
        hits: set[int] = set()
        for sig, index in whole:
            for c in sig.compute(content, for_query=True):
                hits |= {h.entry_id for h in index.search([c.value], sig.default_threshold)}
        extra: set[int] = set()
        if fingerprint is not None:
            for c in fingerprint.compute(content, for_query=True):
                extra = {h.entry_id for h in fp_index.search([c.value], fingerprint.default_threshold)}
        return hits, hits | extra

    recall: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for i, (lang, text) in enumerate(bank[: per_lang * len(VOCAB)]):
        for name, evade in evasions(lang).items():
            a, b = found(evade(text, rng))  # type: ignore[operator]
            row = recall[name]
            row[0] += 1
            row[1] += i in a
            row[2] += i in b
    false = [0, 0]
    for _ in range(distractors):
        lang = str(rng.choice(langs))
        a, b = found(sentence(rng, lang, int(rng.integers(8, 200))))
        false[0] += bool(a)
        false[1] += bool(b)
    return {"recall": dict(recall), "false": false, "distractors": distractors, "bank": len(bank),
            "fingerprint": fingerprint is not None}


def print_texts(args: argparse.Namespace) -> None:
    """Run the text evaluation here and, for comparison, under the main branch's Seawall (``--baseline-src``)."""
    t0 = time.perf_counter()
    mine = text_recall(args.texts_per_language, args.text_distractors, args.text_padding, args.seed)
    took = time.perf_counter() - t0
    base: dict[str, Any] | None = None
    if args.baseline_src:
        cmd = [sys.executable, __file__, "--texts-json", "--texts-per-language", str(args.texts_per_language),
               "--text-distractors", str(args.text_distractors), "--text-padding", str(args.text_padding),
               "--seed", str(args.seed)]
        env = {**os.environ, "PYTHONPATH": args.baseline_src}
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        base = json.loads(out.strip().splitlines()[-1])
    print(f"\n## Texts: {mine['bank']:,} banked texts (8 languages: {', '.join(VOCAB_NAMES)}), "
          f"{mine['distractors']:,} unrelated posts ({took:.0f} s)\n")
    headers = ["evasion", "cases"] + (["main: whole-text"] if base else []) + ["whole-text", "+ text_fingerprint"]
    rows = []
    for name, (n, a, b) in mine["recall"].items():
        row: list[object] = [name, n]
        if base:
            bn, ba, _ = base["recall"].get(name, (n, 0, 0))
            row.append(f"{100 * ba / max(1, bn):.1f} %")
        rows += [[*row, f"{100 * a / n:.1f} %", f"{100 * b / n:.1f} %"]]
    false_row: list[object] = ["false matches (unrelated posts)", mine["distractors"]]
    if base:
        false_row.append(f"{100 * base['false'][0] / max(1, base['distractors']):.2f} %")
    false_row += [f"{100 * f / max(1, mine['distractors']):.2f} %" for f in mine["false"]]
    print(markdown_table(headers, [*rows, false_row]))


VOCAB_NAMES = ("English", "French", "German", "Spanish", "Russian", "Ukrainian", "Arabic", "Persian")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts-only", action="store_true", help="only the text evaluation")
    ap.add_argument("--images-only", action="store_true", help="only the image evaluation")
    ap.add_argument("--texts-json", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--texts-per-language", type=int, default=60)
    ap.add_argument("--text-distractors", type=int, default=5_000)
    ap.add_argument("--text-padding", type=int, default=2_000)
    ap.add_argument("--baseline-src", default="", help="src directory of another Seawall to compare with")
    ap.add_argument("--distractors", type=int, default=10_000)
    ap.add_argument("--synthetic", type=int, default=24, help="generated bank originals")
    ap.add_argument("--bank-padding", type=int, default=2_000, help="extra generated pictures in the bank")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--workers", type=int, default=2, help="processes matching the uploads (at most 2)")
    ap.add_argument("--cache-dir", default="/tmp/seawall-bench-robust",
                    help="where generated distractors are kept between runs ('' for nowhere)")
    ap.add_argument("--images-json", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--families", default="", help="comma-separated subset of families")
    args = ap.parse_args()
    if args.texts_json:
        print(json.dumps(text_recall(args.texts_per_language, args.text_distractors, args.text_padding, args.seed)))
        return
    print(machine_summary())
    if not args.images_only:
        print_texts(args)
    if args.texts_only:
        return
    base: dict[str, Any] | None = None
    if args.baseline_src and not args.images_json:  # first: its uploads are the same, whatever this run finds
        cmd = [sys.executable, __file__, "--images-only", "--images-json", "--distractors", "0",
               "--synthetic", str(args.synthetic), "--bank-padding", str(args.bank_padding), "--seed", str(args.seed),
               "--workers", str(args.workers), "--families", args.families, "--cache-dir", args.cache_dir]
        env = {**os.environ, "PYTHONPATH": args.baseline_src}
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        base = json.loads(out.strip().splitlines()[-1])
        print(f"baseline ({args.baseline_src}): the same uploads matched by its stage 1+2+ORB "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    res = image_eval(args)
    if args.images_json:
        print(json.dumps(res))
        return
    print_images(res, base)


def image_eval(args: argparse.Namespace) -> dict[str, Any]:
    """Recall per family and strength, false matches and cost of the four matchers (JSON-able)."""
    rng = np.random.default_rng(args.seed)
    samples = sample_images()
    names = sorted(samples)
    banked_names, held_out = names[0::2], names[1::2]
    originals: list[tuple[str, U8]] = [(n, samples[n]) for n in banked_names]
    originals += [(f"generated{i}", photo_like(10_000 + i, int(rng.integers(360, 720)), int(rng.integers(360, 720))))
                  for i in range(args.synthetic)]
    pool = [samples[n] for n in held_out] + [photo_like(20_000 + i, 480, 640) for i in range(8)]
    padding = [photo_like(30_000 + i, 96, 128) for i in range(args.bank_padding)]
    bank = [a for _, a in originals] + padding
    about = (f"bank: {len(originals)} originals ({len(banked_names)} sample photographs: {', '.join(banked_names)}; "
             f"{args.synthetic} generated) + {len(padding)} generated padding pictures; "
             f"distractor pool: {', '.join(held_out)} + 8 generated")
    if not args.images_json:
        print(about, flush=True)
    hashes, crops, orb = bank_hashes(bank)

    families = [f for f in FAMILIES if not args.families or f in args.families.split(",")]
    keys: list[tuple[str, str]] = []
    uploads: list[tuple[int, bytes]] = []
    for fam in families:  # generated here, in order, so every run (and a baseline) sees the same uploads
        for strength, transform in FAMILIES[fam].items():
            for entry_id, (_, original) in enumerate(originals):
                keys.append((fam, strength))
                uploads.append((entry_id, upload_bytes(transform(original, rng))))
    chunk = 8
    cost: dict[str, float] = defaultdict(float)
    pos_cost: dict[str, float] = defaultdict(float)
    calls = pos_calls = 0
    found: dict[str, list[int]] = {}
    false = [0] * MATCHERS
    batches = [(args.seed * 1000 + b, min(250, args.distractors - 250 * b), args.cache_dir)
               for b in range((args.distractors + 249) // 250)]
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, min(2, args.workers)), _init_worker, (hashes, crops, orb, pool)) as workers:
        pos = workers.imap(_positive_batch, [uploads[k:k + chunk] for k in range(0, len(uploads), chunk)])
        neg = workers.starmap_async(_distractor_batch, batches)
        done = 0
        for hits, c, n in pos:
            for h in hits:
                row = found.setdefault(" / ".join(keys[done]), [0] * (MATCHERS + 1))
                row[0] += 1
                for k in range(MATCHERS):
                    row[k + 1] += h[k]
                done += 1
            for key, v in c.items():
                pos_cost[key] += v
            pos_calls += n
        t1 = time.perf_counter()
        for f, c, n in neg.get():
            for k in range(MATCHERS):
                false[k] += f[k]
            for key, v in c.items():
                cost[key] += v
            calls += n
    t2 = time.perf_counter()
    for key, v in pos_cost.items():
        cost[key] += v
    return {"about": about, "found": found, "false": false, "distractors": args.distractors, "bank": len(bank),
            "cost": dict(cost), "calls": calls + pos_calls, "pos_cost": dict(pos_cost), "pos_calls": pos_calls,
            "seconds": {"uploads": t1 - t0, "all": t2 - t0}}


def print_images(res: dict[str, Any], base: dict[str, Any] | None) -> None:
    found: dict[str, list[int]] = res["found"]
    extra = ["baseline stage 1+2+ORB"] if base else []

    def pct(v: int, n: int, digits: int) -> str:
        return f"{100 * v / max(1, n):.{digits}f} %"

    rows = []
    by_family: dict[str, list[int]] = defaultdict(lambda: [0] * (MATCHERS + 2))
    for key, r in found.items():
        fam, strength = key.split(" / ")
        b = base["found"].get(key, [0] * (MATCHERS + 1))[MATCHERS] if base else 0
        rows.append([fam, strength, r[0], *(pct(v, r[0], 0) for v in r[1:]), *([pct(b, r[0], 0)] if base else [])])
        for k in range(MATCHERS + 1):
            by_family[fam][k] += r[k]
        by_family[fam][MATCHERS + 1] += b
    print("\n## Recall per transform and strength\n")
    print(markdown_table(["family", "strength", "uploads", *NAMES, *extra], rows))
    print("\n## Recall per family\n")
    print(markdown_table(["family", "uploads", *NAMES, *extra],
                         [[f, r[0], *(pct(v, r[0], 1) for v in r[1:MATCHERS + 1]),
                           *([pct(r[MATCHERS + 1], r[0], 1)] if base else [])] for f, r in by_family.items()]))
    n, false = res["distractors"], res["false"]
    print(f"\n## False matches on {n:,} distractor uploads (bank of {res['bank']:,})\n")
    print(markdown_table(["matcher", "distractors matched", "rate"],
                         [[k, false[i], pct(false[i], n, 3)] for i, k in enumerate(NAMES)]))
    cost, calls, pos_cost, pos_calls = res["cost"], res["calls"], res["pos_cost"], res["pos_calls"]
    secs = res["seconds"]
    print(f"\n## Cost per upload ({calls:,} uploads by the worker processes; transformed uploads took "
          f"{secs['uploads']:.0f} s, all {secs['all']:.0f} s)\n")
    print(markdown_table(["step", "ms per upload", "× plain PDQ"],
                         [[k, f"{1000 * cost.get(k, 0) / max(1, calls):.2f}",
                           f"{cost.get(k, 0) / max(1e-9, cost.get('plain', 0)):.1f}"]
                          for k in ("plain", "stage1", "stage2", "orb")]))
    print(f"(transformed uploads only: stage 2 {1000 * pos_cost.get('stage2', 0) / max(1, pos_calls):.2f} ms, "
          f"ORB {1000 * pos_cost.get('orb', 0) / max(1, pos_calls):.2f} ms)")


if __name__ == "__main__":
    main()
