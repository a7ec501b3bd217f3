"""A pytest plugin that records the CPU seconds each test costs, for ``bench_test_fast.py --cpu-durations``.

``--durations`` reports wall time, which on a shared machine says more about the neighbours than about
the test. This records, per test phase, the CPU time (user + system) of the test process, its threads
(in-process servers) and the processes it waited for, and writes one line per phase to the file named
by ``SEAWALL_CPU_DURATIONS`` (each pytest-xdist worker appends its own lines). It also records the
CPU a worker spent before its first test (imports, collection) as the phase ``startup``.

    pytest -p cpu_durations ...   # with benchmarks/ on PYTHONPATH
"""

from __future__ import annotations

import os
import resource
from collections.abc import Generator
from pathlib import Path

import pytest

OUTPUT_ENV = "SEAWALL_CPU_DURATIONS"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _write(line: str) -> None:
    target = os.environ.get(OUTPUT_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(line + "\n")


_started = {"done": False}


def _phase(item: pytest.Item, name: str) -> Generator[None, None, None]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if not _started["done"]:
        _started["done"] = True
        _write(f"{_cpu():.3f}\tstartup\t{worker}")
    before = _cpu()
    yield
    _write(f"{_cpu() - before:.3f}\t{name}\t{item.nodeid}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    yield from _phase(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield from _phase(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    yield from _phase(item, "teardown")


def pytest_unconfigure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _write(f"{_cpu():.3f}\ttotal\t{worker}")
