"""Seawall for Matrix Synapse: a spam-checker module that asks a Seawall server about every message and
upload, and a webhook endpoint that applies Seawall's later decisions (redact, quarantine, suspend, label).

Load it in ``homeserver.yaml`` as ``module: seawall_synapse.SeawallModule``.
"""

from seawall_synapse.module import SeawallModule

__all__ = ["SeawallModule"]
