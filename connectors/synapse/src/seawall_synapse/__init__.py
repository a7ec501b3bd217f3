"""Seawall for Matrix Synapse: a spam-checker module that asks a Seawall server about every message and
upload, and a webhook endpoint that applies Seawall's later decisions (redact, quarantine, suspend, label).

Load it in ``homeserver.yaml`` as ``module: seawall_synapse.SeawallModule``. The class is imported on
first use, so the settings and signature code can be used (and tested) without Synapse installed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SeawallModule"]


def __getattr__(name: str) -> Any:
    if name == "SeawallModule":
        from seawall_synapse.module import SeawallModule

        return SeawallModule
    raise AttributeError(name)
