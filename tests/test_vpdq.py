"""vPDQ: hashing generated videos, matching transformed copies, refusing bad files, and the API path.

Every video here is generated with PyAV (scenes of random colour grids with a moving block); nothing
real is read. They are small (320×240 at 10 frames/s) so the whole file runs in seconds. (PDQ on much
smaller or smoother frames moves 20–40 bits under a mere resize, which says nothing about real video.)
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.builtin import register
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.errors import InvalidInput, SeawallError, TooLarge, UnsupportedMedia
from seawall.media.video import VideoLimits, probe_video, sample_frames, sniff_video
from seawall.plugins import Registry
from seawall.sharing.vpdq_format import VpdqLinesFormat
from seawall.signals.vpdq.index import VpdqIndex, time_ranges
from seawall.signals.vpdq.signal import (
    VpdqFrame,
    VpdqSignal,
    decode_frames,
    encode_frames,
    frames_to_lines,
    hash_video,
    match_percentages,
    parse_value,
)
from seawall.store.tables import ItemRow

from .conftest import auth, wait_for_item

LINE = re.compile(r"^\d+,\d{1,3},[0-9a-f]{64},\d+\.\d{3}$")


# --- generated videos ------------------------------------------------------------------------------

def _scene(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    small = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def render(seed: int, seconds: float = 8, size: tuple[int, int] = (320, 240), fps: int = 10,
           scene_seconds: float = 2) -> Iterator[np.ndarray]:
    """RGB frames: a new smooth colour field every ``scene_seconds``, with a block moving across it."""
    rng = np.random.default_rng(seed)
    w, h = size
    scene = _scene(rng, w, h)
    for i in range(int(seconds * fps)):
        if i and i % int(scene_seconds * fps) == 0:
            scene = _scene(rng, w, h)
        img = scene.copy()
        x = (i * 4) % (w - w // 5)
        y = h // 3 + int(h / 5 * np.sin(i / 6))
        img[y : y + h // 5, x : x + w // 5] = (250, 250, 250)
        yield img


def encode_video(frames: Iterator[np.ndarray], *, fps: int = 10, codec: str = "libx264", fmt: str = "mp4",
                 options: dict[str, str] | None = None, via: Path | None = None) -> bytes:
    """Encoded bytes; ``via`` writes through a file first (the MP4 muxer's faststart needs to seek back)."""
    buf: io.BytesIO | str = str(via) if via is not None else io.BytesIO()
    with av.open(buf, "w", format=fmt, options=options or {}) as ctr:
        stream = ctr.add_stream(codec, rate=fps)
        stream.pix_fmt = "yuv420p"
        first = True
        for img in frames:
            if first:
                stream.height, stream.width = img.shape[:2]
                first = False
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                ctr.mux(packet)
        for packet in stream.encode():
            ctr.mux(packet)
    return via.read_bytes() if via is not None else buf.getvalue()  # type: ignore[union-attr]


def transcode(data: bytes, *, size: tuple[int, int] | None = None, skip_seconds: float = 0, **kw: object) -> bytes:
    """Decode ``data`` and encode it again (another codec/container, resized, or with its start cut)."""
    def frames() -> Iterator[np.ndarray]:
        with av.open(io.BytesIO(data)) as ctr:
            for frame in ctr.decode(video=0):
                if frame.time is not None and frame.time < skip_seconds:
                    continue
                if size is not None:
                    frame = frame.reformat(width=size[0], height=size[1])
                yield frame.to_ndarray(format="rgb24")
    return encode_video(frames(), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def original() -> bytes:
    return encode_video(render(seed=1))


@pytest.fixture(scope="module")
def frames_1s(original: bytes) -> list[VpdqFrame]:
    return hash_video(original, 1.0)


# --- hashing and formats -----------------------------------------------------------------------

def test_sampling_follows_the_reference_numbering(original: bytes, frames_1s: list[VpdqFrame]) -> None:
    assert [(f.number, f.timestamp) for f in frames_1s] == [(10 * i, float(i)) for i in range(8)]
    assert all(f.quality >= 50 for f in frames_1s)
    every = hash_video(original, 0)
    assert [f.number for f in every] == list(range(80))
    assert [f.timestamp for f in every][:4] == [0.0, 0.1, 0.2, 0.3]
    # the sampled frames are the same frames hashed at every frame
    assert {f.number: f.pdq for f in every if f.number % 10 == 0} == {f.number: f.pdq for f in frames_1s}
    assert len(hash_video(original, 2.5)) == 4  # every int(2.5 × 10) = 25th frame
    lines = frames_to_lines(frames_1s)
    assert all(LINE.match(line) for line in lines) and lines[1].endswith(",1.000")
    assert probe_video(original).fps == 10.0


def test_value_forms_round_trip(frames_1s: list[VpdqFrame]) -> None:
    sig = VpdqSignal()
    token = encode_frames(frames_1s)
    assert " " not in token and token.startswith("v1.")
    assert decode_frames(token) == frames_1s
    assert sig.normalize("\n".join(frames_to_lines(frames_1s))) == token
    assert sig.normalize(";".join(reversed(frames_to_lines(frames_1s)))) == token
    pytx = "[" + ", ".join(f'"{f.pdq},{f.quality},{f.timestamp}"' for f in frames_1s) + "]"
    assert [f.pdq for f in parse_value(pytx)] == [f.pdq for f in frames_1s]
    assert sig.distance(token, token) == 0
    for bad in ("", "v1.!!!", "v1.AAAA", "1,100,abc,0.0", "1,101," + "0" * 64 + ",0.0",
                "1,90," + "0" * 64 + ",0.0;1,90," + "1" * 64 + ",1.0", '["x"]'):
        with pytest.raises(InvalidInput) as exc:
            sig.normalize(bad)
        assert exc.value.code == "invalid_signal_value"


def test_cli_prints_the_reference_lines(tmp_path: Path, original: bytes, frames_1s: list[VpdqFrame]) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(original)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env["SEAWALL_DATA_DIR"] = str(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "seawall", "hash", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    out = run(str(path), "--format", "vpdq")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == frames_to_lines(frames_1s)
    every = run(str(path), "--format", "vpdq", "--seconds-per-hash", "0").stdout.splitlines()
    assert len(every) == 80 and every[3].split(",")[0] == "3"
    signals = run(str(path)).stdout.splitlines()
    assert [s.split()[0] for s in signals] == ["md5", "sha256", "vpdq"]
    assert signals[2] == f"vpdq {encode_frames(frames_1s)}"
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(original[: len(original) // 2])
    failed = run(str(bad), "--format", "vpdq")
    assert failed.returncode == 2 and "corrupt_video" in failed.stderr


def test_hash_list_format_round_trips(frames_1s: list[VpdqFrame]) -> None:
    other = [VpdqFrame(f.number, f.quality, f.pdq[::-1], f.timestamp) for f in frames_1s]
    body = frames_to_lines(frames_1s) + frames_to_lines(other) + ["", "# broken", "0,100,zz,0.000", "1,100,"
                                                                                                 + "0" * 64 + ",0.1"]
    parsed = list(VpdqLinesFormat().parse(body))
    assert [getattr(p, "value", None) for p in parsed[:2]] == [encode_frames(frames_1s), encode_frames(other)]
    assert parsed[1].line_no == len(frames_1s) + 1
    assert getattr(parsed[2], "reason", "") and parsed[2].line_no == len(frames_1s) * 2 + 3


# --- matching ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index(original: bytes) -> VpdqIndex:
    ix = VpdqIndex()
    ix.add([(1, encode_frames(hash_video(original))), (2, encode_frames(hash_video(encode_video(render(7)))))])
    return ix


@pytest.mark.parametrize("variant", ["reencoded-vp9-webm", "smaller", "larger", "trimmed-start", "mpeg4-avi", "same"])
def test_transformed_copies_match(original: bytes, index: VpdqIndex, variant: str) -> None:
    data = {
        "reencoded-vp9-webm": lambda: transcode(original, codec="libvpx-vp9", fmt="webm"),
        "smaller": lambda: transcode(original, size=(240, 180)),
        "larger": lambda: transcode(original, size=(480, 360)),
        "trimmed-start": lambda: transcode(original, skip_seconds=3),
        "mpeg4-avi": lambda: transcode(original, codec="mpeg4", fmt="avi"),
        "same": lambda: original,
    }[variant]()
    query = encode_frames(hash_video(data))
    hits = index.search([query], 100)
    assert [h.entry_id for h in hits] == [1], variant
    q_pct, t_pct = match_percentages(decode_frames(query), decode_frames(index_value(original)))
    assert q_pct >= 80
    assert hits[0].distance == max(0, int(np.ceil(100 - min(q_pct, t_pct) - 1e-9)))
    assert hits[0].detail and "% of the upload's frames" in hits[0].detail and "↔ bank video" in hits[0].detail
    if variant == "trimmed-start":
        assert t_pct < 80 and "bank video 0:03.0–0:07.0" in hits[0].detail


def index_value(data: bytes) -> str:
    return encode_frames(hash_video(data))


def test_unrelated_videos_do_not_match(index: VpdqIndex) -> None:
    for seed in (11, 12, 13):
        assert index.search([index_value(encode_video(render(seed, seconds=5)))], 100) == []


def test_thresholds_and_removal(original: bytes) -> None:
    ix = VpdqIndex(index_match_percent=80.0)
    ix.add([(5, index_value(original))])
    trimmed = index_value(transcode(original, skip_seconds=3))
    assert ix.search([trimmed], 100) == []  # less than 80 % of the bank video is in the clip
    assert VpdqIndex().search([trimmed], 100) == []  # empty index
    ix.add([(5, index_value(original))])  # an id already present is ignored
    assert len(ix) == 1
    assert [c.entry_id for c in ix.search([index_value(original)], 0)] == [5]
    ix.remove([(5, "")])
    assert ix.search([index_value(original)], 100) == [] and len(ix) == 0


def test_time_ranges_merge_consecutive_frames() -> None:
    assert time_ranges([0, 1, 2, 5, 6, 3600.5], 1.0) == "0:00.0–0:02.0, 0:05.0–0:06.0, 1:00:00.5"
    assert time_ranges([], 1.0) == "none"


# --- bad input -------------------------------------------------------------------------------------

def _error(data: bytes, limits: VideoLimits | None = None) -> SeawallError:
    with pytest.raises(SeawallError) as exc:
        list(sample_frames(data, 1.0, limits))
    return exc.value


def test_bad_files_get_clear_codes(original: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a temporary directory of this test's own: other tests running at the same time write to the shared one
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    before = set(os.listdir(tempfile.gettempdir()))
    cut_mid = _error(original[: len(original) // 2])  # moov atom at the end: the header is gone
    assert (cut_mid.status, cut_mid.code) == (422, "corrupt_video")
    faststart = encode_video(render(2), options={"movflags": "faststart"}, via=tmp_path / "fs.mp4")
    cut = _error(faststart[: int(len(faststart) * 0.6)])
    assert (cut.status, cut.code) == (422, "truncated_video")
    garbage = original[:32] + os.urandom(4000)
    assert _error(garbage).code == "corrupt_video"
    for fmt in ("matroska", "mp4"):  # a header and a video stream, but not one frame
        buf = io.BytesIO()
        with av.open(buf, "w", format=fmt) as ctr:
            stream = ctr.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            ctr.start_encoding()
        zero = _error(buf.getvalue())
        assert (zero.status, zero.code) in ((422, "no_frames"), (422, "no_video_stream")), fmt
    assert _error(b"").code == "empty_file"
    assert isinstance(_error(b"just some text that is not a video"), UnsupportedMedia)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    assert _error(png.getvalue()).code == "not_a_video"
    long = _error(original, VideoLimits(max_seconds=5))
    assert isinstance(long, TooLarge) and (long.status, long.code) == (413, "video_too_long")
    many = _error(original, VideoLimits(max_frames=20))
    assert (many.status, many.code) == (413, "video_too_long")
    big = _error(original, VideoLimits(max_pixels=100 * 100))
    assert (big.status, big.code) == (413, "video_too_large")
    new = set(os.listdir(private_tmp)) - before  # decoding is from memory: nothing of ours here
    assert not [p for p in new if re.search(r"(?i)av|ffmpeg|seawall|vpdq|video", p)]


def test_animated_gif_is_a_video() -> None:
    frames = [Image.fromarray(img) for img in render(3, seconds=3, fps=5)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    data = buf.getvalue()
    assert sniff_video(data)
    sampled = list(sample_frames(data, 1.0))
    assert [(f.number, f.timestamp) for f in sampled] == [(0, 0.0), (5, 1.0), (10, 2.0)]
    still = io.BytesIO()
    frames[0].save(still, "GIF")
    assert not sniff_video(still.getvalue())
    assert [f.number for f in sample_frames(data, 0)] == list(range(15))


# --- end to end ------------------------------------------------------------------------------------


def test_video_upload_is_matched_in_the_background(client: TestClient, keys: dict[str, str], engine: Engine,
                                                   original: bytes) -> None:
    h = auth(keys["admin"])
    assert client.post("/v1/banks", json={"name": "videos", "labels": ["behaviour:glorification"]},
                       headers=h).status_code in (200, 201)
    body = "\n".join(frames_to_lines(hash_video(original))) + "\n"
    r = client.post("/v1/banks/videos/import", content=body, params={"format": "vpdq"},
                    headers={**h, "Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    exported = client.get("/v1/banks/videos/export", params={"format": "vpdq"}, headers=h).text.splitlines()
    assert exported[0].startswith("# vpdq entry ") and exported[1:] == body.splitlines()
    entry_id = int(exported[0].rsplit(" ", 1)[1])

    copy = transcode(original, size=(240, 180), codec="libvpx-vp9", fmt="webm")
    sub = auth(keys["submitter"])
    r = client.post("/v1/items", files={"file": ("copy.bin", copy, "application/octet-stream")},
                    data={"content_id": "c1"}, headers=sub)
    assert r.status_code == 202 and r.json()["status"] == "pending", r.text
    assert r.json()["content_type"] == "video"
    done = wait_for_item(client, keys["submitter"], r.json()["id"])
    assert done["status"] == "complete" and done["verdict"] == "block", done
    matches = done["matches"]
    assert isinstance(matches, list) and [(m["signal_type"], m["entry_id"]) for m in matches] == [("vpdq", entry_id)]
    reasons = " | ".join(done["reasons"])  # type: ignore[arg-type]
    assert f"vpdq entry {entry_id} of bank videos" in reasons and "100.0% of the upload's frames" in reasons
    assert "upload 0:00.0–0:07.0 ↔ bank video 0:00.0–0:07.0" in reasons

    unrelated = encode_video(render(21, seconds=4))
    r = client.post("/v1/items", files={"file": ("u.mp4", unrelated, "video/mp4")}, data={"content_id": "u"},
                    headers=sub)
    assert wait_for_item(client, keys["submitter"], r.json()["id"])["verdict"] == "allow"

    broken = client.post("/v1/items", files={"file": ("b.mp4", original[:5000], "video/mp4")},
                         data={"content_id": "b"}, headers=sub)
    # refused at upload: the header check runs before the item is queued
    assert broken.status_code == 422 and broken.json()["code"] == "corrupt_video", broken.text
    assert list((engine.settings.data_dir / "spool").iterdir()) == []


def test_over_long_video_is_refused_at_upload(settings: Settings, original: bytes) -> None:
    reg = Registry()
    register(reg)
    reg.remove("signal_type", "vpdq")  # replaced on purpose: a name registered twice is refused
    reg.add_signal_type(VpdqSignal(limits=VideoLimits(max_seconds=4)))
    eng = build_engine(settings, reg=reg)
    try:
        admin = eng.api_keys.create("admin")[0]
        with TestClient(create_app(engine=eng, follow_writes=False)) as client:
            r = client.post("/v1/items", files={"file": ("v.mp4", original, "video/mp4")}, data={"content_id": "x"},
                            headers=auth(admin))
            assert r.status_code == 413 and r.json()["code"] == "video_too_long", r.text
            with eng.db.session() as s:
                assert s.scalar(select(func.count()).select_from(ItemRow)) == 0  # nothing stored
    finally:
        eng.close()


def test_fraction_rates_number_frames_like_the_reference() -> None:
    data = encode_video(render(4, seconds=3, fps=30), fps=30)
    info = probe_video(data)
    assert Fraction(info.fps).limit_denominator(1001) == 30
    assert [f.number for f in sample_frames(data, 1.0)] == [0, 30, 60]
