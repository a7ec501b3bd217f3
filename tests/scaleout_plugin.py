"""A deferred test signal for processes started by the scale-out tests (loaded via ``SEAWALL_PLUGINS``).

Stand-in "video" bytes are hashed in the background like a real video signal: ``RETRY…`` bytes fail
transiently every time (the job ends in the dead-letter stream), all-zero bytes are refused as empty,
anything else takes ``SEAWALL_TEST_WORK_SECONDS`` (default 5 ms) of simulated decoding.
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

from seawall.errors import InvalidInput, Retryable
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.plugins import Registry
from seawall.signals.digest import DigestSignal


class StandInVideoDigest(DigestSignal):
    name = "video_sha1"
    algorithm = "sha1"
    hex_length = 40
    content_types: ClassVar[tuple[str, ...]] = ("video",)
    deferred = True

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        raw = content.raw_bytes
        if raw.startswith(b"RETRY"):
            raise Retryable("the test decoder is unavailable", code="decoder_unavailable")
        if not raw.strip(b"\x00"):
            raise InvalidInput("the video has no frames", code="empty_video")
        time.sleep(float(os.environ.get("SEAWALL_TEST_WORK_SECONDS", "0.005")))
        return super().compute(content, for_query=for_query)


def register(reg: Registry) -> None:
    reg.signal_types.pop("vpdq", None)  # the stand-in bytes are not a real video
    reg.add_signal_type(StandInVideoDigest())
