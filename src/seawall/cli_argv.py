"""Recognise the two light commands in the command line without Typer parsing it.

Why: Typer builds a pydantic ``TypeAdapter`` for every option it parses (even ``--help`` left unset),
and importing pydantic cost ``seawall bank list`` and ``seawall apikey create`` a third of their
start-up. Only the plain spellings are recognised here: ``bank list [--json]`` and ``apikey create``
with ``--role`` (required) and ``--name``, each given once as ``--opt VALUE`` or ``--opt=VALUE``.
Anything else (``--help``, a repeated or unknown option, a value that looks like an option, shell
completion) gives None and goes to Typer, which then parses, reports and refuses exactly as before;
for what is recognised, a test checks Typer would have passed the same values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def light_command(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """``("bank list" | "apikey create", keyword arguments)`` for a plainly spelled light command, else None."""
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in environ):
        return None  # shell completion is Typer's
    args = list(argv)
    if args == ["bank", "list"]:
        return "bank list", {"as_json": False}
    if args == ["bank", "list", "--json"]:
        return "bank list", {"as_json": True}
    if args[:2] == ["apikey", "create"]:
        options = _options(args[2:], ("--role", "--name"))
        if options is None or "--role" not in options:
            return None
        return "apikey create", {"role": options["--role"], "name": options.get("--name", "")}
    return None


def _options(args: list[str], names: tuple[str, ...]) -> dict[str, str] | None:
    """``{name: value}`` for options that each take one value and are each given at most once."""
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        opt, eq, value = args[i].partition("=")
        if opt not in names or opt in found:
            return None
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None
            value = args[i + 1]
            i += 1
        found[opt] = value
        i += 1
    return found
