"""The real ``promptopt`` command line in a child process, SIGKILLed just before the N-th row of
a run file is written (see :func:`tests.search.killed_run.kill_at_row`). Run from the
repository: ``python -m tests.search.killed_cli N FILE promptopt-args...`` (FILE: ledger,
evaluations, torn:evaluations, events, candidates)."""

from __future__ import annotations

import sys

from promptopt.cli import app
from tests.search.killed_run import kill_at_row

if __name__ == "__main__":
    n, where, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    kill_at_row(where, n)
    app(args, prog_name="promptopt")
