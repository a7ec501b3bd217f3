"""A node of several server processes is ready only when every process has warmed up."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.api.serving_group import PROCESSES_ENV, READY_DIR_ENV, ServingGroup
from seawall.engine import Engine


def test_counts_only_processes_that_still_run(tmp_path: Path) -> None:
    group = ServingGroup(tmp_path / "ready", 2)
    assert group.ready_processes() == 0 and not group.all_ready()  # the directory does not exist yet
    group.mark_ready()
    assert group.ready_processes() == 1 and not group.all_ready()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    group.mark_ready(int(gone.stdout))  # a process that warmed up, then died (uvicorn starts a new one)
    assert group.ready_processes() == 1 and not group.all_ready()
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as alive:
        group.mark_ready(alive.pid)
        assert group.ready_processes() == 2 and group.all_ready()
        group.forget()
        assert not group.all_ready()
        assert alive.stdin is not None
        alive.stdin.close()


def test_lifespan_marks_the_process_once_warm(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv(READY_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(PROCESSES_ENV, "2")
    monkeypatch.setattr(engine.settings, "warm_up", False)  # ready at once
    group = ServingGroup(tmp_path, 2)
    with TestClient(create_app(engine=engine, follow_writes=False)):
        assert engine.ready.wait(10)
        for _ in range(200):  # the mark is written by a thread that waited for the engine
            if group.ready_processes() == 1:
                break
            time.sleep(0.05)
        assert group.ready_processes() == 1
    assert group.ready_processes() == 0  # shutting down withdraws the mark


def test_start_up_heap_is_frozen_before_the_engine_says_ready(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The freeze's full collection holds the process's requests for 100-300 ms: not after traffic arrives."""
    import seawall.engine as engine_module
    import seawall.warmup as warmup_module

    seen: list[bool] = []
    real = engine_module.freeze_start_up_heap
    monkeypatch.setattr(engine_module, "freeze_start_up_heap", lambda: (seen.append(engine.ready.is_set()), real())[1])
    monkeypatch.setattr(warmup_module, "warm_up", lambda eng: {})
    monkeypatch.setattr(engine.settings, "gc_freeze", True)
    engine.warm_up()
    assert seen == [False] and engine.ready.is_set()
