"""The command line's shell: help is fast (heavy imports are lazy) and lists the commands."""

from __future__ import annotations

import time

from tests.conftest import RunCli


def test_help_is_fast_and_lists_commands(run_cli: RunCli) -> None:
    start = time.perf_counter()
    proc = run_cli("--help")
    assert proc.returncode == 0 and "eval" in proc.stdout and "tasks" in proc.stdout
    assert time.perf_counter() - start < 10  # heavy imports are lazy; a regression shows here
