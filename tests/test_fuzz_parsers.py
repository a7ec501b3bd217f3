"""Every parser of outside input, fuzzed with Hypothesis from a seed corpus: refusals are clean 4xx errors.

Hash lists (text lines, TCAP-style CSV, vPDQ files) go through the whole import into a real store on
SQLite and PostgreSQL, so a value the parser lets through but the database cannot hold (a NUL in a label,
say) shows up here. Rules YAML goes through the rules parser, and image and video headers through the
decoders. Whatever the input, the only exceptions allowed are Seawall's own 4xx errors (``InvalidInput``,
``TooLarge``, ``UnsupportedMedia``…), which the API turns into a response with a code and a sentence.

The seeds are in ``tests/fuzz_corpus/`` (text) or generated here (media); Hypothesis mutates them:
characters replaced, inserted and deleted, lines duplicated, cut and swapped, NUL and other control
characters, very long fields.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.errors import SeawallError
from seawall.media.image import decode_image, image_size, sniff_image
from seawall.media.video import VideoLimits, probe_video, sample_frames, sniff_video
from seawall.rules.language import parse_rules

from .conftest import encode, textured_image
from .test_vpdq import encode_video, render

CORPUS = Path(__file__).parent / "fuzz_corpus"
#: The example count comes from the Hypothesis profile tests/conftest.py loads (``full``: 100, ``fast``: 20).
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
#: Characters that break parsers and databases: NUL, controls, separators, quotes, a BOM, odd Unicode.
NASTY = ["\x00", "\r", "\n", "\t", ",", '"', "#", " ", "\ufeff", "\u202e", "\udcff", "é", "𝔭", "\x1b", "0"]


def _clean_4xx(exc: BaseException) -> bool:
    return isinstance(exc, SeawallError) and 400 <= exc.status < 500


_NASTY_CHAR = st.one_of(st.sampled_from(NASTY), st.characters(codec="utf-8"), st.characters(max_codepoint=127))
#: Whole field values that parsers and databases get wrong.
NASTY_FIELDS = ["\x00", "a\x00b", "", " ", '"', "-1", "9" * 40, "1e309", "nan", "2024-13-45", "0x10", "\ufeff",
                "true\x00", "😀" * 3, "\\", "%s%n", "${x}", "&anchor", "*alias", "!!python/object:os.system"]
#: A field's replacement: a known troublemaker, a few odd characters, or one repeated past any sane length.
_NASTY_FIELD = st.one_of(st.sampled_from(NASTY_FIELDS), st.text(_NASTY_CHAR, max_size=12),
                         st.builds(lambda c, n: c * n, _NASTY_CHAR, st.integers(200, 5000)))


@st.composite
def mutated_text(draw: st.DrawFn, seed: str, sep: str = ",") -> str:
    """The seed with a few random edits: what a broken exporter, a truncation or an attacker produces.

    Most edits replace one field of one line (split on ``sep``, the format's separator), so a bad value
    lands in each column of an otherwise valid record; others edit characters or whole lines.
    """
    lines = seed.split("\n")
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["field", "field", "field", "char", "insert", "line", "drop", "cut"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        line = lines[i] if lines else ""
        if op == "field":
            parts = line.split(sep)
            parts[draw(st.integers(0, len(parts) - 1))] = draw(_NASTY_FIELD)
            line = sep.join(parts)
        elif op == "char" and line:
            at = draw(st.integers(0, len(line) - 1))
            line = line[:at] + draw(_NASTY_CHAR) + line[at + 1:]
        elif op == "insert":
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(st.text(_NASTY_CHAR, max_size=8)) + line[at:]
        elif op == "line":
            lines.insert(i, draw(st.sampled_from(lines or [""])))
        elif op == "drop" and lines:
            del lines[i]
            continue
        elif op == "cut":
            line = line[:draw(st.integers(0, len(line)))]
            lines = lines[:i + 1]
        if lines:
            lines[i] = line
    return "\n".join(lines)


@st.composite
def mutated_bytes(draw: st.DrawFn, seed: bytes, head: int = 96) -> bytes:
    """The seed with edits concentrated in its header, where sizes, counts and offsets live."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate", "max"]))
        at = draw(st.integers(0, min(head, len(data) - 1))) if data else 0
        if op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif op == "max" and data:
            data[at:at + 4] = b"\xff\xff\xff\x7f"
    return bytes(data)


# --- hash lists, through the import into a real store ------------------------------------------------


@pytest.fixture
def store(settings: Settings) -> Iterator[Engine]:
    eng = build_engine(settings)
    eng.banks.create("fuzz")
    try:
        yield eng
    finally:
        eng.close()


def _import(engine: Engine, fmt: str, text: str, strict: bool) -> None:
    lines = [line.rstrip("\r\n").lstrip("\ufeff") for line in text.splitlines()]
    try:
        report = engine.import_entries("fuzz", fmt, lines, added_by="fuzz", source="fuzz", strict=strict)
    except Exception as exc:
        assert _clean_4xx(exc), f"{type(exc).__name__}: {exc}"
        return
    out = report.to_dict()
    assert out["added"] + out["duplicates"] + out["rejected"] <= max(out["lines_read"], 1) * 64
    assert all(isinstance(r["reason"], str) and r["reason"] for r in out["rejected_lines"])


_HASH_LISTS = {"text": ("hashlist.txt", " "), "tcap-csv": ("tcap.csv", ","), "vpdq": ("vpdq.txt", ",")}


@pytest.mark.parametrize("fmt", sorted(_HASH_LISTS))
def test_hash_list_imports_refuse_cleanly(store: Engine, fmt: str) -> None:
    name, sep = _HASH_LISTS[fmt]
    seed = (CORPUS / name).read_text(encoding="utf-8")

    @FUZZ
    @given(text=mutated_text(seed, sep), strict=st.booleans())
    def check(text: str, strict: bool) -> None:
        _import(store, fmt, text, strict)

    check()
    # the seed itself imports (it is a meaningful corpus, not noise), and the store still answers
    _import(store, fmt, seed, False)
    assert store.banks.get("fuzz").entry_count


@pytest.mark.parametrize("fmt", sorted(_HASH_LISTS))
def test_hash_list_every_field_takes_every_troublemaker(store: Engine, fmt: str) -> None:
    """Systematic, beside the random search: each field of each seed line replaced by each bad value."""
    name, sep = _HASH_LISTS[fmt]
    seed = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    header, rows = (seed[:1], seed[1:]) if fmt == "tcap-csv" else ([], seed)
    swept = [*header]
    for row in rows:
        parts = row.split(sep)
        for i in range(len(parts)):
            for bad in NASTY_FIELDS:
                swept.append(sep.join([*parts[:i], bad, *parts[i + 1:]]))
                swept.append(row)
    for strict in (False, True):
        _import(store, fmt, "\n".join(swept), strict)


# --- rules YAML ---------------------------------------------------------------------------------------


@FUZZ
@given(source=mutated_text((CORPUS / "rules.yaml").read_text(encoding="utf-8"), ": "))
def test_rules_yaml_refuses_cleanly(source: str) -> None:
    from seawall.plugins import registry

    try:
        parse_rules(source, registry().action_types)
    except Exception as exc:
        assert _clean_4xx(exc), f"{type(exc).__name__}: {exc}"


# --- media headers ------------------------------------------------------------------------------------


def _image_seeds() -> list[bytes]:
    img = textured_image(7, (96, 64))
    return [encode(img, "PNG"), encode(img, "JPEG"), encode(img, "GIF"), encode(img, "WEBP"),
            encode(img, "BMP"), encode(img.convert("RGBA"), "PNG"), encode(img, "TIFF")]


def _video_seeds() -> list[bytes]:
    frames = [textured_image(n, (64, 48)) for n in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    mp4 = encode_video(render(9, seconds=1, size=(64, 48), fps=5), fps=5)
    return [buf.getvalue(), mp4]


@FUZZ
@given(data=st.sampled_from(_image_seeds()).flatmap(mutated_bytes))
def test_image_headers_refuse_cleanly(data: bytes) -> None:
    sniff_image(data)
    for step in (image_size, decode_image):
        try:
            step(data)
        except Exception as exc:
            assert _clean_4xx(exc), f"{step.__name__}: {type(exc).__name__}: {exc}"


#: Small limits, so a header claiming hours of 8K video is refused rather than decoded.
_VIDEO_LIMITS = VideoLimits(max_seconds=60, max_pixels=1_000_000, max_side=2048, max_frames=200, threads=1)


@settings(FUZZ, max_examples=max(5, settings.default.max_examples * 2 // 5))
@given(data=st.sampled_from(_video_seeds()).flatmap(lambda seed: mutated_bytes(seed, head=len(seed))))
def test_video_headers_refuse_cleanly(data: bytes) -> None:
    sniff_video(data)
    try:
        probe_video(data, _VIDEO_LIMITS)
        for _ in sample_frames(data, 0.5, _VIDEO_LIMITS):
            pass
    except Exception as exc:
        assert _clean_4xx(exc), f"{type(exc).__name__}: {exc}"
