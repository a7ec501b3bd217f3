"""Run the ``seawall`` command inside the test process, as a script would see it from outside.

A ``seawall`` subprocess pays 2–4 s of imports before it does anything. Tests that check what a command
prints and which exit code it returns run it here instead: the command's own Typer app gets the argv,
the environment (replaced, as a child process's would be, for the length of the call) and stdin, and
stdout, stderr and the exit code come back apart. Tests about a separate process itself (start-up,
signals, plugins a fresh interpreter discovers, several processes sharing a store) keep real processes.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from typer.testing import CliRunner

from seawall import cli


@dataclass(frozen=True)
class CliResult:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would have returned."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@contextmanager
def _consoles(width: int | None) -> Iterator[None]:
    """The command's rich consoles are made at import; give them the width the environment asks for."""
    saved = cli.out, cli.err
    cli.out, cli.err = Console(width=width), Console(stderr=True, width=width)
    try:
        yield
    finally:
        cli.out, cli.err = saved


def run_cli(args: Sequence[str], env: Mapping[str, str] | None = None, *, input: str | None = None) -> CliResult:
    """Run ``seawall ARGS`` in this process; ``env`` is the command's whole environment (default: this one's).

    An exception the command does not handle comes back as exit code 1 with its traceback on stderr,
    as Python itself would report it.
    """
    overrides: dict[str, str | None] = {}
    if env is not None:
        overrides = {k: None for k in os.environ if k not in env}
        overrides.update(env)
    columns = (env if env is not None else os.environ).get("COLUMNS", "")
    with _consoles(int(columns) if columns.isdigit() else None):
        result = CliRunner().invoke(cli.app, list(args), input=input, env=overrides, catch_exceptions=True)
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return CliResult(list(args), result.exit_code, result.stdout, stderr)


def cli_stdout(args: Sequence[str], env: Mapping[str, str] | None = None, *, input: str | None = None) -> str:
    """``seawall ARGS`` in this process, which must succeed; its stdout."""
    result = run_cli(args, env, input=input)
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout
