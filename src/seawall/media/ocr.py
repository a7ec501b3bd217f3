"""Text written in images, read with Tesseract, so that a banned slogan rendered into a picture still
meets the text signals (``text_sha256``, ``text_minhash``, ``tlsh``).

OCR is the slowest step an image upload can take, and it reads attacker-chosen pixels, so it is bounded
twice: the image is shrunk to at most ``max_side`` pixels on its longest side before Tesseract sees it,
and the whole step (shrinking, writing the image, Tesseract) must finish within ``timeout_seconds``: the
Tesseract process gets only what is left of that budget and is killed when it runs out.

Tesseract is run directly (its ``tsv`` output, word confidences included) on an uncompressed greyscale
file, with ``OMP_THREAD_LIMIT`` set to ``threads`` (1 by default) for that process only: its OpenMP
threads spin while waiting for each other, which on a busy two-core server made one image several
times slower than a single thread (``benchmarks/bench_ocr.py``). Nothing here raises for a bad image or a
missing/broken Tesseract: the caller gets no text and a short note for the verdict reasons, because an
upload must never fail only because the optional OCR step did.

Words Tesseract itself is unsure of (confidence below ``min_word_confidence``) are dropped: on photos and
textures it otherwise "reads" stray letters, which would give language guesses and text signals for
images that contain no text.

The text also feeds the URL signals (``url``, ``url_prefix``, ``domain``): a banned outlet's address written
into a picture, often defanged (``hxxps://outlet[.]example``), is matched like a link in a post. Tesseract
often reads the closing bracket of ``[.]`` as ``J``, ``|`` or ``l``; :func:`repair_defanged_dots` puts it back
so that such a link is still recognised.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

if TYPE_CHECKING:
    from seawall.config import Settings

log = logging.getLogger(__name__)

#: Below this standard deviation of grey levels an image is flat (no strokes): OCR is skipped.
FLAT_STD = 2.0


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """How OCR runs; ``enabled=None`` means "on when Tesseract is installed"."""

    enabled: bool | None = None
    timeout_seconds: float = 10.0
    max_side: int = 2000
    languages: str = "eng+ara"
    min_word_confidence: float = 50.0
    threads: int = 1
    #: Scheduling niceness of the Tesseract process (0: as the server): OCR runs in stage 2, behind verdicts.
    niceness: int = 0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> OcrOptions:
        """The given settings, or the process settings (``SEAWALL_OCR_*``)."""
        from seawall.config import get_settings

        s = settings if settings is not None else get_settings()
        return cls(enabled=s.ocr_enabled, timeout_seconds=s.ocr_timeout_seconds, max_side=s.ocr_max_side,
                   languages=s.ocr_languages, threads=s.ocr_threads, niceness=s.ocr_niceness)


@dataclass(frozen=True, slots=True)
class OcrResult:
    """The text read (None when OCR did not run or found nothing), a note for the verdict, and the time taken."""

    text: str | None
    note: str | None = None
    seconds: float = 0.0


_warned_missing = threading.Event()


@lru_cache(maxsize=1)
def tesseract_version() -> str | None:
    """Installed Tesseract version, or None when the binary is missing (checked once per process)."""
    import pytesseract

    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        return None
    try:
        return str(pytesseract.get_tesseract_version())
    except Exception:  # any failure to run it means "not usable"
        return None


@lru_cache(maxsize=8)
def _usable_languages(requested: str) -> str | None:
    """The requested ``eng+ara`` languages that have installed data, so a missing pack degrades, not fails."""
    import pytesseract

    try:
        installed = set(pytesseract.get_languages(config=""))
    except Exception:  # unreadable data dir: treat as none installed
        return None
    wanted = [lang for lang in requested.split("+") if lang]
    have = [lang for lang in wanted if lang in installed]
    missing = [lang for lang in wanted if lang not in installed]
    if missing:
        log.warning("Tesseract language data missing for %s; OCR uses %s", "+".join(missing), "+".join(have) or "none")
    return "+".join(have) or None


def ocr_available() -> bool:
    """Whether Tesseract can be run here; logs once when it cannot."""
    if tesseract_version() is not None:
        return True
    if not _warned_missing.is_set():
        _warned_missing.set()
        log.warning("tesseract is not installed: text in images is not read (apt-get install tesseract-ocr)")
    return False


def prepare(pixels: npt.NDArray[np.uint8], max_side: int) -> Image.Image | None:
    """Greyscale image no larger than ``max_side``, or None when it is flat (nothing to read).

    Kept cheap because it counts against the OCR time budget: the flatness test looks at every fourth
    pixel of every fourth row, and a large image is shrunk by area averaging (box filter), less than half
    the cost of Lanczos and just as legible to Tesseract at these scales.
    """
    img = Image.fromarray(pixels).convert("L")
    if float(np.asarray(img)[::4, ::4].std()) < FLAT_STD:
        return None
    longest = max(img.size)
    if longest > max_side:
        scale = max_side / longest
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BOX)
    return img


def read_text(pixels: npt.NDArray[np.uint8], options: OcrOptions) -> OcrResult:
    """The confident words Tesseract reads in the image, line by line; never raises."""
    if options.enabled is False:
        return OcrResult(None)
    if not ocr_available():
        return OcrResult(None, "ocr skipped: tesseract is not installed")
    langs = _usable_languages(options.languages)
    if langs is None:
        return OcrResult(None, "ocr skipped: no tesseract language data")
    start = time.perf_counter()
    deadline = start + options.timeout_seconds
    try:
        img = prepare(pixels, options.max_side)
        if img is None:
            return OcrResult(None, seconds=time.perf_counter() - start)
        rows = _run_tesseract(img, langs, deadline, options.threads, options.niceness)
    except subprocess.TimeoutExpired:
        took = time.perf_counter() - start
        log.info("OCR timed out after %.1f s", took)
        return OcrResult(None, f"ocr timed out after {options.timeout_seconds:g} s; text in the image not checked",
                         took)
    except Exception as e:  # Tesseract errors must not fail the upload
        log.warning("OCR failed: %s", e)
        return OcrResult(None, "ocr failed; text in the image not checked", time.perf_counter() - start)
    text = repair_defanged_dots(_confident_lines(rows, options.min_word_confidence))
    return OcrResult(text or None, seconds=time.perf_counter() - start)


def _run_tesseract(img: Image.Image, langs: str, deadline: float, threads: int,
                   niceness: int = 0) -> dict[str, list[str]]:
    """Tesseract's word table (``tsv``) for the image, columns by name; raises ``TimeoutExpired`` at the deadline.

    The image goes to Tesseract as an uncompressed PGM on its standard input (PNG encoding of a large image
    costs more than it saves). Never through a file: a server stopped while Tesseract ran left the uploaded
    image behind in a temporary directory. The process's own environment limits its threads. A positive
    ``niceness`` starts it through ``nice``, so the kernel serves in-request verdicts first.
    """
    import pytesseract

    env = dict(os.environ, OMP_THREAD_LIMIT=str(threads))
    pgm = io.BytesIO()
    img.save(pgm, format="PPM")
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise subprocess.TimeoutExpired("tesseract", 0)
    nice = shutil.which("nice") if niceness > 0 else None
    prefix = [nice, "-n", str(niceness)] if nice else []
    done = subprocess.run(
        [*prefix, pytesseract.pytesseract.tesseract_cmd, "stdin", "stdout", "-l", langs, "tsv"],
        input=pgm.getvalue(), capture_output=True, env=env, timeout=remaining, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode("utf-8", "replace").strip()[-300:] or f"exit {done.returncode}")
    table: dict[str, list[str]] = {}
    reader = csv.reader(done.stdout.decode("utf-8", "replace").splitlines(), delimiter="\t",
                        quoting=csv.QUOTE_NONE)
    header = next(reader, [])
    for name in header:
        table[name] = []
    for row in reader:
        padded = row + [""] * (len(header) - len(row))  # a word-less row may end early
        for name, value in zip(header, padded, strict=False):
            table[name].append(value)
    return table


#: A label, ``[.`` or ``(.``, a misread closing bracket, and the next (lowercase) label of a host name.
_MISREAD_DEFANG = re.compile(r"(?<=[A-Za-z0-9-])([\[(])\s?\.\s?[J|l1I](?=[a-z0-9])")


def repair_defanged_dots(text: str) -> str:
    """``site[.Jorg`` → ``site[.]org``: undo Tesseract's usual misreading of a defanged dot's bracket."""
    return _MISREAD_DEFANG.sub(lambda m: "[.]" if m.group(1) == "[" else "(.)", text)


def _confident_lines(data: dict[str, list[str]], min_conf: float) -> str:
    """Join the words at or above ``min_conf``, one output line per Tesseract line."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    for i, word in enumerate(data.get("text", [])):
        w = str(word).strip()
        try:
            conf = float(str(data["conf"][i]))
        except (KeyError, IndexError, ValueError):
            continue
        if not w or conf < min_conf:
            continue
        key = (int(str(data["block_num"][i])), int(str(data["par_num"][i])), int(str(data["line_num"][i])))
        lines.setdefault(key, []).append(w)
    return "\n".join(" ".join(words) for _, words in sorted(lines.items()))
