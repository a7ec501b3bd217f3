"""Video decoding that treats every upload as hostile, and frame sampling for per-frame hashing.

Order matters, as for images: the container is recognised from its leading bytes and opened with
that one demuxer (FFmpeg never probes the other ~400, and playlist-style demuxers that would open
other files or URLs are never reached); the codec, frame size and declared duration are checked
before a single frame is decoded; and the limits are enforced again while decoding, because a
container's header can lie. Everything is decoded from memory: no temporary file is ever written.

Animated GIF and WebP are videos too (a looping clip is a common way to re-post one). They are read
through Pillow, which Seawall already restricts for images, with each frame's own display duration.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from seawall.errors import InvalidInput, TooLarge, UnsupportedMedia

#: FFmpeg demuxers an upload may be opened with, by what its leading bytes say it is. Nothing else is
#: ever handed to FFmpeg, so demuxers that follow references to other files (HLS, concat, image2…)
#: are unreachable.
ALLOWED_CONTAINERS: tuple[str, ...] = ("mov", "matroska", "avi", "flv", "mpegts", "mpeg", "ogg")

#: Video codecs (FFmpeg codec names) people actually post. Every decoder left out is attack surface
#: removed; a stream in any other codec is refused as unsupported media.
ALLOWED_CODECS: tuple[str, ...] = (
    "h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "mpeg4", "mpeg1video", "mpeg2video", "mjpeg", "theora",
    "h263", "flv", "msmpeg4v3", "wmv2", "wmv3", "vc1", "prores", "dnxhd", "gif", "png",
)

#: ISO base-media brands of still images (AVIF, HEIC…): such a file is a picture, not a video.
_IMAGE_BRANDS: frozenset[bytes] = frozenset({
    b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
})

#: Display time of a GIF/WebP frame that declares none (or an absurdly short one), as browsers do.
DEFAULT_FRAME_MS = 100
MIN_FRAME_MS = 20


class VideoSettings(BaseSettings):
    """Video decoding limits and sampling; every field maps to ``SEAWALL_VIDEO_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SEAWALL_VIDEO_", extra="ignore")

    max_seconds: float = Field(default=3 * 3600, gt=0, description="Longest accepted video (declared or decoded).")
    max_pixels: int = Field(default=3840 * 2160, gt=0, description="Largest accepted frame (width × height).")
    max_side: int = Field(default=8192, gt=0, description="Longest accepted frame side.")
    max_frames: int = Field(default=3 * 3600 * 60, gt=0, description="Most frames decoded from one video.")
    threads: int = Field(default=2, ge=0, le=64, description="Decoder threads per video (0: one per core).")


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Per-upload decoding limits (see :class:`VideoSettings` for what each bounds)."""

    max_seconds: float = 3 * 3600
    max_pixels: int = 3840 * 2160
    max_side: int = 8192
    max_frames: int = 3 * 3600 * 60
    threads: int = 2

    @classmethod
    def from_settings(cls, settings: VideoSettings | None = None) -> VideoLimits:
        s = settings or VideoSettings()
        return cls(max_seconds=s.max_seconds, max_pixels=s.max_pixels, max_side=s.max_side,
                   max_frames=s.max_frames, threads=s.threads)


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One sampled frame: its number in presentation order, its time and its RGB pixels (h, w, 3)."""

    number: int
    timestamp: float
    pixels: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the header says, checked against the limits before any frame is decoded."""

    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration: float | None


# --- recognising a video -------------------------------------------------------------------------

def container_of(data: bytes) -> str | None:
    """The FFmpeg demuxer for these bytes, from their leading bytes alone; None if not a known video.

    Recognising the container here rather than letting FFmpeg probe means an upload can only ever
    reach the demuxers in :data:`ALLOWED_CONTAINERS`.
    """
    if len(data) < 12:
        return None
    box = data[4:8]
    if box == b"ftyp":
        return None if data[8:12] in _IMAGE_BRANDS else "mov"
    if box in (b"moov", b"mdat", b"wide", b"free", b"skip") and data[:4] != b"RIFF":
        return "mov"  # QuickTime files written without an ftyp box
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    if data.startswith(b"FLV\x01"):
        return "flv"
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if data[0] == 0x47 and len(data) > 376 and data[188] == 0x47 and data[376] == 0x47:
        return "mpegts"
    return None


def _animated_format(data: bytes) -> str | None:
    """``GIF`` or ``WEBP`` when the bytes are an animation with more than one frame."""
    if not (data.startswith((b"GIF87a", b"GIF89a")) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=("GIF", "WEBP")) as img:
                return str(img.format) if getattr(img, "is_animated", False) else None
    except Exception:
        return None


def sniff_video(data: bytes) -> bool:
    """Whether the bytes are a video Seawall would decode: a known container, or an animated GIF/WebP.

    Call it before image sniffing: an animated GIF is also an image, but it is matched as a video.
    """
    return container_of(data) is not None or _animated_format(data) is not None


# --- FFmpeg path ---------------------------------------------------------------------------------

def _corrupt(message: str, exc: BaseException | None = None) -> InvalidInput:
    detail = f": {exc}" if exc is not None and str(exc) else ""
    return InvalidInput(f"{message}{detail}", code="corrupt_video")


def _check_size(width: int, height: int, limits: VideoLimits) -> None:
    if width <= 0 or height <= 0:
        raise InvalidInput("the video stream declares no frame size", code="corrupt_video")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise TooLarge(
            f"the video is {width}×{height}, over the limit of {limits.max_pixels:,} pixels "
            f"or {limits.max_side} pixels a side",
            code="video_too_large",
        )


def _too_long(seconds: float, limits: VideoLimits) -> TooLarge:
    return TooLarge(
        f"the video lasts at least {seconds:,.0f} s, over the limit of {limits.max_seconds:,.0f} s",
        code="video_too_long",
    )


def _open(data: bytes, container: str) -> Any:
    import av

    try:
        # No protocol may be opened from inside the file (a demuxer following a reference).
        return av.open(io.BytesIO(data), mode="r", format=container,
                       options={"protocol_whitelist": "none"}, metadata_errors="ignore")
    except MemoryError as exc:
        raise TooLarge("the video is too large to open", code="video_too_large") from exc
    except av.error.EOFError as exc:
        raise InvalidInput("the video ends before its first frame (empty or cut off)", code="no_frames") from exc
    except Exception as exc:
        raise _corrupt("the file starts like a video but its header is truncated or corrupt", exc) from exc


def _probe(ctr: Any, container: str, limits: VideoLimits) -> tuple[Any, VideoInfo]:
    if not ctr.streams.video:
        raise InvalidInput("the file has no video stream", code="no_video_stream")
    stream = ctr.streams.video[0]
    cc = stream.codec_context
    codec = str(cc.name) if cc is not None else ""
    if codec not in ALLOWED_CODECS:
        raise UnsupportedMedia(
            f"the video codec {codec or 'unknown'!r} is not one Seawall decodes "
            f"({', '.join(ALLOWED_CODECS[:6])}…)",
            code="unsupported_video_codec",
        )
    width, height = int(stream.width or 0), int(stream.height or 0)
    _check_size(width, height, limits)
    rate: Fraction | None = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if not fps > 0:
        raise InvalidInput("the video declares no frame rate", code="corrupt_video")
    duration: float | None = None
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif ctr.duration is not None:
        duration = ctr.duration / 1_000_000
    if duration is not None and duration > limits.max_seconds:
        raise _too_long(duration, limits)
    return stream, VideoInfo(container, codec, width, height, fps, duration)


def frame_step(seconds_per_frame: float, fps: float) -> int:
    """Every how many frames one is sampled: the reference vPDQ's ``int(seconds × fps)``, at least 1.

    ``seconds_per_frame`` 0 samples every frame.
    """
    return max(1, int(seconds_per_frame * fps))


def reference_timestamp(number: int, fps: float) -> float:
    """Frame time as the reference vPDQ computes it (single-precision ``number / fps``), so printed
    timestamps agree with hashes made there to the millisecond."""
    return float(np.float32(number) / np.float32(fps))


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    if max_side <= 0 or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _ffmpeg_frames(data: bytes, container: str, seconds_per_frame: float, limits: VideoLimits,
                   max_side: int) -> Iterator[VideoFrame]:
    ctr = _open(data, container)
    try:
        stream, info = _probe(ctr, container, limits)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = limits.threads
        step = frame_step(seconds_per_frame, info.fps)
        max_frames = min(limits.max_frames, int(limits.max_seconds * info.fps) + 1)
        declared = int(stream.frames or 0)
        n = 0
        try:
            for frame in ctr.decode(stream):
                if n >= max_frames:
                    raise (_too_long(n / info.fps, limits) if n / info.fps > limits.max_seconds else TooLarge(
                        f"the video has more than {limits.max_frames:,} frames", code="video_too_long"))
                if n % step == 0:
                    if frame.width != info.width or frame.height != info.height:
                        _check_size(int(frame.width), int(frame.height), limits)
                    size = _scaled_size(int(frame.width), int(frame.height), max_side)
                    if size is None:
                        rgb = frame.to_ndarray(format="rgb24")
                    else:
                        rgb = frame.reformat(width=size[0], height=size[1], format="rgb24",
                                             interpolation="AREA").to_ndarray()
                    yield VideoFrame(n, reference_timestamp(n, info.fps), np.ascontiguousarray(rgb))
                n += 1
        except (TooLarge, InvalidInput, UnsupportedMedia):
            raise
        except MemoryError as exc:
            raise TooLarge("the video is too large to decode", code="video_too_large") from exc
        except Exception as exc:
            if n == 0:
                raise _corrupt("the video could not be decoded", exc) from exc
            if declared and n < declared:  # the data stops inside a frame the header promised
                raise InvalidInput(f"the video is truncated: it breaks off at frame {n} of {declared}",
                                   code="truncated_video") from exc
            raise InvalidInput(f"the video is corrupt after frame {n}: {exc}", code="corrupt_video") from exc
        if n == 0:
            raise InvalidInput("the video has no decodable frames", code="no_frames")
        # A cut-off file decodes what is there and stops; the header still counts every frame.
        if declared and n < declared - max(2, declared // 100):
            raise InvalidInput(
                f"the video is truncated: {n} of its {declared} frames could be decoded", code="truncated_video"
            )
    finally:
        ctr.close()


# --- animated GIF / WebP -------------------------------------------------------------------------

def _animation_frames(data: bytes, fmt: str, seconds_per_frame: float, limits: VideoLimits,
                      max_side: int) -> Iterator[VideoFrame]:
    """Frames of an animation sampled by display time (GIF/WebP frames each carry their own duration)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = Image.open(io.BytesIO(data), formats=(fmt,))
        except Exception as exc:
            raise _corrupt("the animation header is corrupt", exc) from exc
    with img:
        width, height = img.size
        _check_size(int(width), int(height), limits)
        count = int(getattr(img, "n_frames", 1))
        if count > limits.max_frames:
            raise TooLarge(f"the animation has {count:,} frames, over the limit of {limits.max_frames:,}",
                           code="video_too_long")
        elapsed_ms = 0
        next_sample_ms = 0.0
        for n in range(count):
            try:
                img.seek(n)
                duration = int(img.info.get("duration") or 0)
                if n == 0 or seconds_per_frame <= 0 or elapsed_ms >= next_sample_ms:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        rgb = img.convert("RGB")
                    size = _scaled_size(rgb.width, rgb.height, max_side)
                    if size is not None:
                        rgb = rgb.resize(size, Image.Resampling.BOX)
                    yield VideoFrame(n, elapsed_ms / 1000, np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
                    if seconds_per_frame > 0:
                        next_sample_ms = (elapsed_ms // (seconds_per_frame * 1000) + 1) * seconds_per_frame * 1000
            except (TooLarge, InvalidInput):
                raise
            except MemoryError as exc:
                raise TooLarge("the animation is too large to decode", code="video_too_large") from exc
            except Exception as exc:
                if n == 0:
                    raise _corrupt("the animation could not be decoded", exc) from exc
                raise InvalidInput(f"the animation is truncated or corrupt at frame {n}: {exc}",
                                   code="truncated_video") from exc
            elapsed_ms += duration if duration >= MIN_FRAME_MS else DEFAULT_FRAME_MS
            if elapsed_ms / 1000 > limits.max_seconds:
                raise _too_long(elapsed_ms / 1000, limits)


# --- entry point ---------------------------------------------------------------------------------

def sample_frames(data: bytes, seconds_per_frame: float = 1.0, limits: VideoLimits | None = None, *,
                  max_side: int = 0) -> Iterator[VideoFrame]:
    """Decode ``data`` and yield one frame every ``seconds_per_frame`` seconds (0: every frame).

    Frames are numbered and sampled as the reference vPDQ hasher does (every ``int(seconds × fps)``-th
    decoded frame, timestamp ``number / fps``), so hashes line up with hashes made there. Frames not
    sampled are decoded (later frames depend on them) but never converted to RGB, which is most of the
    per-frame cost. ``max_side`` > 0 shrinks larger sampled frames (area average) before they are
    returned. Bad input raises :class:`InvalidInput` (422), :class:`TooLarge` (413) or
    :class:`UnsupportedMedia` (415), each with a stable code.
    """
    if seconds_per_frame < 0:
        raise InvalidInput("seconds per frame must be 0 (every frame) or more", code="invalid_field")
    limits = limits or VideoLimits()
    if not data:
        raise InvalidInput("the uploaded file is empty", code="empty_file")
    container = container_of(data)
    if container is not None:
        yield from _ffmpeg_frames(data, container, seconds_per_frame, limits, max_side)
        return
    fmt = _animated_format(data)
    if fmt is not None:
        yield from _animation_frames(data, fmt, seconds_per_frame, limits, max_side)
        return
    if data.startswith((b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"\x89PNG")) or data[8:12] == b"WEBP":
        raise InvalidInput("the file is a still image, not a video", code="not_a_video")
    raise UnsupportedMedia(
        "the file is not a video format Seawall can decode (MP4/MOV, WebM/MKV, AVI, FLV, MPEG-TS/PS, Ogg, "
        "animated GIF/WebP)",
        code="unsupported_media_type",
    )


def probe_video(data: bytes, limits: VideoLimits | None = None) -> VideoInfo:
    """Container, codec, size, frame rate and duration from the header, checked against the limits."""
    limits = limits or VideoLimits()
    container = container_of(data)
    if container is None:
        fmt = _animated_format(data)
        if fmt is None:
            raise UnsupportedMedia("the file is not a video format Seawall can decode", code="unsupported_media_type")
        with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
            _check_size(img.width, img.height, limits)
            return VideoInfo(fmt.lower(), fmt.lower(), img.width, img.height, 0.0, None)
    ctr = _open(data, container)
    try:
        return _probe(ctr, container, limits)[1]
    finally:
        ctr.close()
