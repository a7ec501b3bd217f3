"""Thread caps per server process: each process gets its share of the cores, an operator's choice stands."""

from __future__ import annotations

import pytest

from seawall.signals.pdq import mih
from seawall.threads import INDEX_THREADS, THREAD_VARIABLES, cap_threads, threads_per_process


def test_each_process_gets_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*THREAD_VARIABLES, INDEX_THREADS):
        monkeypatch.setenv(name, "")  # recorded, so the test's changes are undone afterwards
        monkeypatch.delenv(name)
    assert [threads_per_process(p, cores=2) for p in (1, 2, 3)] == [2, 1, 1]
    assert threads_per_process(2, cores=8) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # set by the operator: kept
    values = cap_threads(2, cores=2)
    assert values["OMP_NUM_THREADS"] == "3"
    assert values["OPENBLAS_NUM_THREADS"] == "1" and values["NUMBA_NUM_THREADS"] == "1"
    assert values[INDEX_THREADS] == "1" and mih.worker_count() == 1
    monkeypatch.setenv(INDEX_THREADS, "0")  # not a share: the usable cores
    assert mih.worker_count() >= 1
