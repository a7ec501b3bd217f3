"""Stage 2's heavy part in low-priority worker processes: the same signals as computed in the server's
own threads, the workers run at the configured niceness, and a killed worker is replaced.

Images are generated; Tesseract reads them for real.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from PIL import Image

from seawall.media.content import Content
from seawall.media.ocr import OcrOptions
from seawall.uploads.slow_process import SlowProcesses, adopt, compute
from seawall.uploads.stages import compute_region_signals, image_text_signals

from .test_ocr_language import slogan, text_image

SIGNAL_TYPES = frozenset({"pdq", "pdq_crop", "orb", "text_sha256"})


def _photo_with_caption(phrase: str) -> bytes:
    """A noisy picture with the phrase's image pasted into its lower part (the upload a meme would be)."""
    import io

    rng = np.random.default_rng(7)
    base = Image.fromarray(rng.integers(0, 255, (600, 1400, 3), dtype=np.uint8))
    caption = Image.open(io.BytesIO(text_image(phrase)))
    base.paste(caption, (0, 330))
    out = io.BytesIO()
    base.save(out, "PNG")
    return out.getvalue()


def _signals(sigs: list) -> list[tuple[str, str, tuple[str, ...]]]:  # type: ignore[type-arg]
    return [(s.type, s.value, tuple(s.variants)) for s in sigs]


@pytest.fixture(scope="module")
def slow() -> SlowProcesses:
    """One pool for the module, as a server keeps one: each worker started is a fresh interpreter that imports
    Seawall and loads the compiled kernels (about a second of CPU), and these tests need no fresh one (the
    killed-worker test makes the pool start its replacement, which the tests after it then use)."""
    pool = SlowProcesses(1, niceness=19)
    yield pool  # type: ignore[misc]
    pool.close()


def test_worker_computes_what_the_server_thread_would(slow: SlowProcesses) -> None:
    phrase = slogan(31)
    data = _photo_with_caption(phrase)
    options = OcrOptions(enabled=True)
    here = Content("image", data=data, ocr=options)
    expected_regions = compute_region_signals(here, SIGNAL_TYPES)
    expected_text = here.ocr_text()
    assert expected_regions and expected_text

    content = Content("image", data=data, ocr=options, defer_slow=True)
    jobs = slow.jobs
    result = slow.run(content, ["ocr", "regions"], SIGNAL_TYPES)
    assert result.ocr_done and result.ocr_text == expected_text
    assert result.regions is not None and _signals(result.regions) == _signals(expected_regions)
    # the serving process takes the worker's results: OCR does not run again there
    adopt(content, result)
    assert content.region_signals is result.regions
    content.ocr = OcrOptions(enabled=True, timeout_seconds=0.000001)  # would time out if OCR ran again
    assert content.ocr_text() is None  # still deferred: stage-2 tasks switch deferral off for themselves
    content.defer_slow = False
    assert content.ocr_text() == expected_text and content.notes == []
    assert slow.jobs == jobs + 1
    assert all(os.getpriority(os.PRIO_PROCESS, pid) == 19 for pid in slow.pids())
    assert all(os.sched_getscheduler(pid) == os.SCHED_IDLE for pid in slow.pids())


def test_tesseract_runs_inherit_the_idle_policy(slow: SlowProcesses) -> None:
    """What a worker starts (Tesseract) runs under the worker's policy and niceness too."""
    assert hasattr(os, "SCHED_IDLE"), "Seawall serves on Linux, which has SCHED_IDLE"
    policy, nice = slow._executor().submit(_child_priority).result()
    assert policy == os.SCHED_IDLE and nice == 19


def _child_priority() -> tuple[int, int]:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0), os.nice(0))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


_FALLBACK = """
import os
from seawall.uploads.slow_process import lower_priority
{setup}
print(lower_priority({niceness}, {idle}), os.nice(0), os.sched_getscheduler(0) == getattr(os, "SCHED_IDLE", -1))
"""


@pytest.mark.parametrize(("setup", "niceness", "idle", "expected"), [
    ("", 7, True, ["idle", "7", "True"]),
    ("", 7, False, ["nice", "7", "False"]),
    ("del os.SCHED_IDLE", 5, True, ["nice", "5", "False"]),  # a platform without the policy: niceness alone
    ("", 0, False, ["none", "0", "False"]),
])
def test_priority_falls_back_to_niceness(setup: str, niceness: int, idle: bool, expected: list[str]) -> None:
    import subprocess
    import sys

    assert hasattr(os, "SCHED_IDLE"), "Seawall serves on Linux, which has SCHED_IDLE"
    code = _FALLBACK.format(setup=setup, niceness=niceness, idle=idle)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.split()
    assert out == expected


def test_a_killed_worker_is_replaced(slow: SlowProcesses) -> None:
    data = _photo_with_caption(slogan(32))
    content = Content("image", data=data, ocr=OcrOptions(enabled=False))
    first = slow.run(content, ["regions"], SIGNAL_TYPES)
    (pid,) = slow.pids()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    again = slow.run(content, ["regions"], SIGNAL_TYPES)
    assert again.regions is not None and first.regions is not None
    assert _signals(again.regions) == _signals(first.regions)
    assert slow.pids() and slow.pids() != [pid]


def test_a_bad_image_fails_in_the_worker_as_it_would_in_the_server(slow: SlowProcesses) -> None:
    from seawall.errors import InvalidInput

    content = Content("image", data=b"\xff\xd8\xff\xe0 not really a jpeg", ocr=OcrOptions(enabled=False))
    with pytest.raises(InvalidInput):
        slow.run(content, ["regions"], SIGNAL_TYPES)


def test_text_signals_come_from_the_adopted_ocr_text() -> None:
    """With OCR text adopted from a worker, the text task computes its signals from it without running OCR."""
    from seawall import builtin
    from seawall.plugins import Registry

    registry = Registry()
    builtin.register(registry)
    phrase = slogan(33)
    content = Content("image", data=_photo_with_caption(phrase), ocr=OcrOptions(enabled=False), defer_slow=True)
    adopt(content, compute("image", content.data, content.limits, OcrOptions(enabled=False), [], SIGNAL_TYPES))
    assert content.region_signals is None  # the regions task did not run: the server computes them itself
    content.set_ocr_text(phrase)
    out = image_text_signals(registry, content, [])
    text = Content("text", text=phrase)
    assert [s.value for s in out if s.type == "text_sha256"] == [
        s.value for s in registry.signal_types["text_sha256"].compute(text, for_query=True)]
