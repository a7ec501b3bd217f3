"""vPDQ hashing speed (multiple of real time) and agreement with the reference ``vpdq`` package, in one run.

Why: a video's verdict waits for its hash, so hashing speed decides how far behind uploads the
background stage runs (goal: ≥ 20× real time at 720p on 2 cores). Agreement decides whether hashes
made here match hashes other platforms share: hashed at every frame, the reference and Seawall must
list the same frames with the same timestamps, with PDQ hashes a few bits apart at most (the frame
conversion differs only in YUV→RGB details).

    .venv/bin/python benchmarks/bench_video.py [--seconds 10] [--reference-python /tmp/vpdqvenv/bin/python]
    .venv/bin/python benchmarks/bench_video.py --reference-samples DIR

``--reference-samples DIR`` checks agreement with the hashes the reference project publishes for its own
sample clips instead: ``DIR/videos/*.mp4`` are that project's sample videos and ``DIR/hashes/<name>.txt``
its sample hash files (``frame_number,quality,pdq_hex,timestamp`` lines, every frame). Each clip is
hashed here at every frame and compared frame for frame: frame count, frame numbers, timestamps, per-frame
PDQ distance (over frames where both qualities are ≥ 50, as the reference's own regression test does,
which allows up to 31 bits) and quality. The clips are not part of Seawall; fetch them yourself.

The reference (``pip install vpdq``, which builds against the system FFmpeg -dev packages) runs in
its own interpreter, given by ``--reference-python``; without it only Seawall is measured. Clips are
generated (colour-grid scenes, a moving block, 30 frames/s H.264) into a temporary directory that is
removed at the end. The process is pinned to 2 cores when more are available.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_summary, markdown_table
from seawall.media.video import VideoLimits
from seawall.signals.vpdq.signal import VpdqFrame, hash_video

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
GOAL_720P = 20.0

_REFERENCE = r"""
import json, sys, time, vpdq
path, sph, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
best, feats = None, None
for _ in range(int(sys.argv[4])):
    t = time.perf_counter()
    feats = vpdq.computeHash(path, seconds_per_hash=sph, thread_count=threads)
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
print(json.dumps({"seconds": best, "frames": [[f.frame_number, f.quality, f.hex, f.timestamp] for f in feats]}))
"""


def generate(size: tuple[int, int], seconds: float, seed: int, fps: int = 30) -> bytes:
    """H.264 clip: a new 16×12 colour-grid scene every 2 s with a block moving across it."""
    w, h = size
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as ctr:
        stream = ctr.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        scene = np.zeros((h, w, 3), np.uint8)
        for i in range(int(seconds * fps)):
            if i % (2 * fps) == 0:
                small = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
                scene = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))
            img = scene.copy()
            x = (i * w // 150) % (w - w // 5)
            y = h // 3 + int(h / 5 * np.sin(i / 9))
            img[y : y + h // 5, x : x + w // 5] = (250, 250, 250)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                ctr.mux(packet)
        for packet in stream.encode():
            ctr.mux(packet)
    return buf.getvalue()


def time_seawall(data: bytes, sph: float, repeats: int, max_side: int = 0) -> tuple[float, list[VpdqFrame]]:
    limits = VideoLimits(threads=2)
    best, frames = float("inf"), []
    for _ in range(repeats):
        t = time.perf_counter()
        frames = hash_video(data, sph, limits, max_side=max_side)
        best = min(best, time.perf_counter() - t)
    return best, frames


def run_reference(python: str, path: Path, sph: float, repeats: int) -> tuple[float, list[VpdqFrame]]:
    out = subprocess.run([python, "-c", _REFERENCE, str(path), str(sph), "2", str(repeats)], capture_output=True,
                         text=True, check=True, timeout=3600)
    body = json.loads(out.stdout)
    return body["seconds"], [VpdqFrame(int(n), int(q), str(x), float(t)) for n, q, x, t in body["frames"]]


def agreement(ours: list[VpdqFrame], ref: list[VpdqFrame]) -> dict[str, object]:
    same_numbers = [f.number for f in ours] == [f.number for f in ref]
    same_times = [f"{f.timestamp:.3f}" for f in ours] == [f"{f.timestamp:.3f}" for f in ref]
    dist = [(int(a.pdq, 16) ^ int(b.pdq, 16)).bit_count() for a, b in zip(ours, ref, strict=False)]
    return {
        "frames (ours/ref)": f"{len(ours)}/{len(ref)}",
        "numbers equal": same_numbers,
        "timestamps equal": same_times,
        "identical hashes": f"{sum(d == 0 for d in dist) * 100 / max(1, len(dist)):.1f}%",
        "mean bits": f"{np.mean(dist):.2f}" if dist else "-",
        "max bits": max(dist) if dist else "-",
        "quality equal": f"{sum(a.quality == b.quality for a, b in zip(ours, ref, strict=False))}/{len(dist)}",
    }


def read_reference_lines(path: Path) -> list[VpdqFrame]:
    """A reference sample hash file: ``frame_number,quality,pdq_hex,timestamp`` per line."""
    frames = []
    for line in path.read_text().splitlines():
        if line.strip():
            n, q, h, t = line.strip().split(",")
            frames.append(VpdqFrame(int(n), int(q), h.strip().lower(), float(t)))
    return frames


def reference_samples(root: Path) -> int:
    """Hash every sample clip at every frame and compare with the reference's published hashes."""
    videos = sorted((root / "videos").glob("*.mp4"))
    if not videos:
        raise SystemExit(f"no sample videos in {root / 'videos'}")
    rows: list[list[object]] = []
    all_dist: list[int] = []
    limits = VideoLimits(threads=2)
    for video in videos:
        ref_path = root / "hashes" / f"{video.stem}.txt"
        if not ref_path.is_file():
            rows.append([video.name, "no reference hash file", "", "", "", "", "", "", ""])
            continue
        ref = read_reference_lines(ref_path)
        t0 = time.perf_counter()
        ours = hash_video(video.read_bytes(), 0.0, limits)
        took = time.perf_counter() - t0
        by_number = {f.number: f for f in ours}
        pairs = [(by_number[r.number], r) for r in ref if r.number in by_number]
        same_numbers = [f.number for f in ours] == [r.number for r in ref]
        same_times = all(f"{a.timestamp:.3f}" == f"{b.timestamp:.3f}" for a, b in pairs) and same_numbers
        good = [(a, b) for a, b in pairs if a.quality >= 50 and b.quality >= 50]
        dist = [(int(a.pdq, 16) ^ int(b.pdq, 16)).bit_count() for a, b in good]
        all_dist += dist
        rows.append([
            video.name, f"{len(ours)}/{len(ref)}", same_numbers, same_times,
            f"{sum(d == 0 for d in dist) * 100 / max(1, len(dist)):.1f}%",
            f"{np.mean(dist):.2f}" if dist else "-", max(dist) if dist else "-",
            f"{sum(d <= 31 for d in dist)}/{len(dist)}",
            f"{sum(a.quality == b.quality for a, b in pairs)}/{len(pairs)}", f"{took:.1f} s",
        ])
    print(markdown_table(["sample", "frames (ours/ref)", "numbers equal", "timestamps equal", "identical hashes",
                          "mean bits", "max bits", "frames ≤ 31 bits", "quality equal", "time"], rows))
    if all_dist:
        print(f"\nall samples: {len(all_dist)} frames compared, {sum(d == 0 for d in all_dist)} identical, "
              f"mean {np.mean(all_dist):.3f} bits, p99 {np.percentile(all_dist, 99):.0f}, max {max(all_dist)}, "
              f"{sum(d <= 31 for d in all_dist) * 100 / len(all_dist):.2f}% within the reference's 31-bit tolerance")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each generated clip")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per measurement (best is kept)")
    ap.add_argument("--reference-python", default=os.environ.get("VPDQ_PYTHON", ""),
                    help="interpreter with the reference 'vpdq' package installed")
    ap.add_argument("--reference-samples", type=Path, default=None, metavar="DIR",
                    help="compare with the reference's sample hashes (DIR/videos/*.mp4, DIR/hashes/*.txt)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 2:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    print(machine_summary())
    if args.reference_samples is not None:
        sys.exit(reference_samples(args.reference_samples))
    print(f"clips: {args.seconds:g} s at 30 frames/s, H.264; 1 hash per second unless stated; decoder threads 2\n")
    speed_rows: list[list[object]] = []
    agree_rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="seawall-bench-video-") as tmp:
        for i, (name, size) in enumerate(SIZES.items()):
            data = generate(size, args.seconds, seed=i)
            path = Path(tmp) / f"{name}.mp4"
            path.write_bytes(data)
            ours_s, ours = time_seawall(data, 1.0, args.repeats)
            small_s, small = time_seawall(data, 1.0, args.repeats, max_side=640)
            moved = max((int(a.pdq, 16) ^ int(b.pdq, 16)).bit_count() for a, b in zip(ours, small, strict=True))
            row: list[object] = [name, f"{args.seconds / ours_s:.1f}×", f"{args.seconds / small_s:.1f}× "
                                 f"(≤{moved} bits)"]
            if args.reference_python:
                ref_s, _ = run_reference(args.reference_python, path, 1.0, args.repeats)
                row += [f"{args.seconds / ref_s:.1f}×", f"{ref_s / ours_s:.2f}"]
                _, every_ours = time_seawall(data, 0.0, 1)
                _, every_ref = run_reference(args.reference_python, path, 0.0, 1)
                agree_rows.append([name, *agreement(every_ours, every_ref).values()])
            else:
                row += ["-", "-"]
            speed_rows.append(row)
    print(markdown_table(["clip", "Seawall", "Seawall, frames ≤640 px", "reference vpdq", "Seawall speed-up"],
                         speed_rows))
    if agree_rows:
        print("\nEvery frame (--seconds-per-hash 0), Seawall against the reference:\n")
        print(markdown_table(["clip", "frames (ours/ref)", "numbers equal", "timestamps equal", "identical hashes",
                              "mean bits", "max bits", "quality equal"], agree_rows))
    x720 = float(str(speed_rows[1][1]).rstrip("×"))
    print(f"\n720p goal ≥ {GOAL_720P:g}× real time: {'met' if x720 >= GOAL_720P else 'NOT met'} ({x720:.1f}×)")


if __name__ == "__main__":
    main()
