"""Run the fake optimization in a child process and SIGKILL it at a given point (used by
tests/search/test_loop.py and tests/search/test_kill_anywhere.py to prove that resume loses and
repeats nothing). Run from the repository:
``python -m tests.search.killed_run RUN_FOLDER CALL`` (killed as the CALL-th model call starts),
or ``python -m tests.search.killed_run RUN_FOLDER N FILE [CONCURRENCY]``: killed just before
the N-th row of FILE (ledger, evaluations, events, candidates) is written, so for example
``evaluations`` kills between a call's ledger row and its evaluation record, and
``torn:evaluations`` leaves half of that record in the file."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from promptopt.run.store import RunStore
from promptopt.testing import FakeCompleter, topic_answers
from tests.search.test_loop import SETTINGS, open_run

HOLD_S = 0.002  # calls stay open long enough to overlap at concurrency > 1


def kill_at_row(name: str, n: int) -> None:
    """SIGKILL this process as the n-th row of ``name`` is about to be written; with
    ``torn:<name>``, after half of that row reached the file."""
    torn = name.startswith("torn:")
    name = name.removeprefix("torn:")
    append, seen = RunStore.append, {"rows": 0}

    def append_or_die(self: RunStore, file: str, row: dict[str, Any]) -> None:
        if file == name:
            seen["rows"] += 1
            if seen["rows"] >= n:
                if torn:
                    line = json.dumps(row)
                    with (self.path / f"{file}.jsonl").open("a", encoding="utf-8") as handle:
                        handle.write(line[: len(line) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        append(self, file, row)

    RunStore.append = append_or_die  # type: ignore[method-assign]


if __name__ == "__main__":
    folder, n = Path(sys.argv[1]), int(sys.argv[2])
    where = sys.argv[3] if len(sys.argv) > 3 else "call"
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    settings = replace(SETTINGS, max_trials=8, concurrency=concurrency)
    if where == "call":
        fake = FakeCompleter(topic_answers(), kill_after=n, hold_s=HOLD_S if concurrency > 1 else 0.0)
    else:
        kill_at_row(where, n)
        fake = FakeCompleter(topic_answers(), hold_s=HOLD_S if concurrency > 1 else 0.0)
    open_run(folder, settings, fake).optimizer.run()
