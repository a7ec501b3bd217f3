"""Re-appearance detection on generated account populations, against an exact-username baseline.

Why: a suspended account that returns under a new id must be found among many innocent newcomers,
without flagging the innocents. This registers suspended accounts (names, avatars, a few posts with
links), suspends them, then registers innocent accounts mixed with the suspended ones coming back
under mutated names (leet digits, Cyrillic look-alikes, other separators, a number appended, case) with
their avatar re-encoded and cropped (some with a new avatar or none), some of which then re-post a
near-copy of an old text. Names of both groups come from the same generator, so many innocents share
common names with suspended accounts, as in real life.

Reported, for Seawall at registration, Seawall after the returning account's first post, and the naive
baseline (a returning account is found only if its lowercase username equals the old one):
mean reciprocal rank of the true old account, share of returns flagged at the threshold, share of
innocent accounts flagged (false alert rate), and time per registration.

    .venv/bin/python benchmarks/bench_reappearance.py [--suspended 200] [--innocent 10000] [--seed 7]

Runs on a temporary SQLite database; everything is generated.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from seawall.accounts.recidivism import ReappearanceService
from seawall.composition import build_engine
from seawall.config import Settings


def _words(text: str) -> list[str]:
    return text.split()


FIRST = _words("john mike alex sarah maria anna david chris james emma omar ali yusuf fatima lina noah liam olivia "
         "ivan olga pierre marie hans lukas sofia mateo diego lucas ahmed hassan amina zara ben sam max leo "
         "tom kate nina eva mark paul peter adam sara aisha ibrahim khalid musa bilal hamza")
LAST = _words("smith jones brown lee khan ali garcia martin muller rossi silva kim nguyen patel singh cohen "
        "ivanov novak kowalski haddad mansour rahman hussein ahmed dubois weber fischer")
WORDS = _words("wolf lion desert storm shadow eagle falcon sword shield night iron steel fire dawn river mountain "
         "ghost hunter rider warrior media news voice truth free path light star black white red green "
         "gamer coder artist cook travel photo music fan official real daily world")
CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445",
            "y": "\u0443"}
LEET = {"a": "4", "e": "3", "o": "0", "i": "1", "s": "5", "t": "7"}
POPULAR_DOMAINS = ["youtube.com", "twitter.com", "instagram.com", "wikipedia.org", "reddit.com", "github.com"]


def make_name(rng: random.Random) -> str:
    pattern = rng.randrange(7)
    f, last, w, w2 = rng.choice(FIRST), rng.choice(LAST), rng.choice(WORDS), rng.choice(WORDS)
    sep = rng.choice(["_", ".", "", "-"])
    num = str(rng.randrange(1, 9999)) if rng.random() < 0.4 else ""
    return [f"{f}{sep}{last}{num}", f"{f}{num}", f"{w}{sep}{w2}{num}", f"the{sep}{w}{sep}{f}",
            f"{f}{sep}{last[0]}{num}", f"{w}{sep}{f}{num}", f"{f}{sep}{w}{sep}{last}"][pattern]


def mutate(name: str, rng: random.Random) -> str:
    """One to three disguises of the kinds seen on returning accounts."""
    out = name
    for kind in rng.sample(["leet", "cyrillic", "separator", "digits", "case", "double"], rng.randint(1, 3)):
        if kind == "leet":
            out = "".join(LEET[c] if c in LEET and rng.random() < 0.5 else c for c in out)
        elif kind == "cyrillic":
            out = "".join(CYRILLIC[c] if c in CYRILLIC and rng.random() < 0.6 else c for c in out)
        elif kind == "separator":
            new = rng.choice(["_", ".", "-", "__", ""])
            out = "".join(new if c in "_.-" else c for c in out)
            if not any(c in "_.-" for c in name) and len(out) > 4:
                cut = rng.randrange(2, len(out) - 1)
                out = out[:cut] + (new or "_") + out[cut:]
        elif kind == "digits":
            out = out.rstrip("0123456789") + str(rng.randrange(1, 99999))
        elif kind == "case":
            out = "".join(c.upper() if rng.random() < 0.4 else c for c in out)
        else:
            i = rng.randrange(len(out))
            out = out[:i] + out[i] + out[i:]
    return out if out != name else name + str(rng.randrange(10, 99))


def avatar(seed: int, size: int = 192) -> Image.Image:
    """A smooth background and a few discs, like a logo or a cropped photo."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((size, size),
                                                                                   Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = rng.integers(size // 8, size - size // 8, 2).tolist()
        r = int(rng.integers(size // 16, size // 5))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.integers(0, 256, 3).tolist()))
    return img


def encode(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def reencode(img: Image.Image, rng: random.Random) -> bytes:
    """Cropped by 0–6 % on each side (symmetrically or not), rescaled, JPEG at quality 50–90."""
    w, h = img.size
    c = rng.uniform(0, 0.06)
    box = (int(w * c * rng.uniform(0.7, 1.3)), int(h * c * rng.uniform(0.7, 1.3)),
           w - int(w * c * rng.uniform(0.7, 1.3)), h - int(h * c * rng.uniform(0.7, 1.3)))
    side = rng.choice([128, 160, 200, 256])
    return encode(img.crop(box).resize((side, side)), "JPEG", quality=rng.randrange(50, 91))


def post_text(rng: random.Random, domain: str) -> str:
    words = rng.sample(WORDS * 3, 18)
    return f"{' '.join(words[:9])} https://{domain}/{rng.choice(WORDS)}/{rng.randrange(10**6)} {' '.join(words[9:])}"


@dataclass
class Tally:
    rr: list[float] = field(default_factory=list)
    flagged: int = 0
    seconds: list[float] = field(default_factory=list)


def rank_of(candidates: list[dict[str, object]], old: str) -> float:
    for i, c in enumerate(candidates):
        if c["account_id"] == old:
            return 1 / (i + 1)
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suspended", type=int, default=200)
    ap.add_argument("--innocent", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--verbose", action="store_true", help="print every return that was not flagged")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(Settings(data_dir=Path(tmp)))
        svc = ReappearanceService(engine.db, None, threshold=args.threshold)
        try:
            # suspended accounts: profile, avatar, posts with links to their own sites, then suspension
            old: dict[str, tuple[str, Image.Image | None, list[str]]] = {}
            for i in range(args.suspended):
                aid, name = f"s{i}", make_name(rng)
                img = avatar(10_000 + i) if rng.random() < 0.85 else None
                site = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}.example"
                texts = [post_text(rng, rng.choice([site, site, *POPULAR_DOMAINS])) for _ in range(2)]
                for k, t in enumerate(texts):
                    engine.submit(engine.content("text", text=t), content_id=f"{aid}-{k}", account_id=aid)
                svc.update_profile(aid, username=name, display_name=name.replace("_", " ").title(),
                                   avatar=encode(img) if img else None)
                with engine.db.session() as s:
                    engine.accounts.suspend(s, aid, permanent=True, reason="benchmark")
                old[aid] = (name, img, texts)
            lower = {v[0].lower() for v in old.values()}

            # newcomers: innocents and returns, interleaved
            arrivals = [("i", i) for i in range(args.innocent)] + [("r", i) for i in range(args.suspended)]
            rng.shuffle(arrivals)
            seawall_reg, seawall_post, base, innocent = Tally(), Tally(), Tally(), Tally()
            base_false = 0
            for kind, i in arrivals:
                if kind == "i":
                    aid, name = f"n{i}", make_name(rng)
                    img = encode(avatar(1_000_000 + i), "JPEG", quality=85) if rng.random() < 0.6 else None
                    if rng.random() < 0.1:
                        t = post_text(rng, rng.choice(POPULAR_DOMAINS))
                        engine.submit(engine.content("text", text=t), content_id=f"{aid}-0", account_id=aid)
                    t0 = time.perf_counter()
                    res = svc.update_profile(aid, username=name, display_name=name.title(), avatar=img)
                    innocent.seconds.append(time.perf_counter() - t0)
                    innocent.flagged += bool(res["flagged"])
                    base_false += name.lower() in lower
                    continue
                target = f"s{i}"
                name, img, texts = old[target]
                new_name = mutate(name, rng)
                roll = rng.random()
                new_img = (reencode(img, rng) if img is not None and roll < 0.8
                           else encode(avatar(2_000_000 + i)) if roll < 0.9 else None)
                aid = f"r{i}"
                t0 = time.perf_counter()
                res = svc.update_profile(aid, username=new_name, display_name=mutate(name, rng).title(),
                                         avatar=new_img)
                seawall_reg.seconds.append(time.perf_counter() - t0)
                seawall_reg.rr.append(rank_of(res["candidates"], target))
                seawall_reg.flagged += bool(res["flagged"])
                if args.verbose and not res["flagged"]:
                    top = res["candidates"][0] if res["candidates"] else None
                    print("missed", repr(name), repr(new_name), new_img is not None and roll < 0.8, top)
                base.rr.append(1.0 if new_name.lower() == name.lower() else 0.0)
                base.flagged += new_name.lower() == name.lower()
                if rng.random() < 0.5:  # re-posts a near-copy of an old text
                    t = texts[0].replace(" ", "  ", 1) + " !"
                    engine.submit(engine.content("text", text=t), content_id=f"{aid}-0", account_id=aid)
                    res = svc.check(aid)
                seawall_post.rr.append(rank_of(res["candidates"], target))
                seawall_post.flagged += bool(res["flagged"])
        finally:
            engine.close()

    n_ret, n_inn = args.suspended, args.innocent
    rows = [
        ("baseline: exact lowercase username", base.rr, base.flagged, base_false, None),
        ("seawall at registration", seawall_reg.rr, seawall_reg.flagged, innocent.flagged,
         innocent.seconds + seawall_reg.seconds),
        ("seawall after first post (50 % re-post)", seawall_post.rr, seawall_post.flagged, innocent.flagged, None),
    ]
    print(f"{n_ret} suspended accounts returning among {n_inn:,} innocent registrations "
          f"(threshold {args.threshold}, seed {args.seed})")
    print(f"{'method':42} {'MRR':>6} {'returns flagged':>16} {'false alert rate':>17} {'ms/registration':>16}")
    for label, rr, flagged, false, secs in rows:
        ms = f"{1000 * float(np.mean(secs)):.1f}" if secs else "-"
        print(f"{label:42} {float(np.mean(rr)):6.3f} {flagged / n_ret:16.1%} {false / n_inn:17.2%} {ms:>16}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
