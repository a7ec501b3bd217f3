"""The reference vPDQ hash file: one ``frame_number,quality,pdq_hex,timestamp_seconds`` line per frame.

A reference file holds one video. So that a whole bank fits in one stream, a video also ends at a blank
line, at a ``#`` comment line, or where the frame number stops increasing — so concatenated reference
files (``cat a.txt b.txt``) import as one entry each. Export writes every ``vpdq`` entry of the bank as
a ``# vpdq entry <id>`` comment followed by its lines; entries of other signal types are not written.
A malformed line rejects the video it belongs to (numbered by that line), not the rest of the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from seawall.errors import InvalidInput
from seawall.models.records import BankEntry
from seawall.sharing.base import HashListFormat, ParsedEntry, RejectedLine
from seawall.signals.vpdq.signal import VpdqFrame, decode_frames, encode_frames, frames_to_lines, parse_line


class VpdqLinesFormat(HashListFormat):
    name = "vpdq"
    media_type = "text/plain"
    file_suffix = ".vpdq.txt"

    def parse(self, lines: Iterable[str]) -> Iterator[ParsedEntry | RejectedLine]:
        frames: list[VpdqFrame] = []
        first_line = 0
        broken: RejectedLine | None = None

        def flush() -> ParsedEntry | RejectedLine | None:
            if broken is not None:
                return broken
            if not frames:
                return None
            return ParsedEntry(line_no=first_line, signal_type="vpdq", value=encode_frames(frames))

        for line_no, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                done = flush()
                if done is not None:
                    yield done
                frames, broken = [], None
                continue
            try:
                frame = parse_line(line)
            except InvalidInput as exc:
                if broken is None:
                    broken = RejectedLine(line_no, exc.message)
                if not frames:
                    first_line = line_no
                continue
            if frames and frame.number <= frames[-1].number:
                done = flush()
                if done is not None:
                    yield done
                frames, broken = [], None
            if not frames and broken is None:
                first_line = line_no
            frames.append(frame)
        done = flush()
        if done is not None:
            yield done

    def write(self, entries: Iterable[BankEntry]) -> Iterator[str]:
        for e in entries:
            if e.signal_type != "vpdq":
                continue
            yield f"# vpdq entry {e.id}\n"
            for line in frames_to_lines(decode_frames(e.value)):
                yield line + "\n"
