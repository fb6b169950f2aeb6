"""Run the fake optimization in a child process and SIGKILL it at a given call (used by
tests/search/test_loop.py to prove that resume loses and repeats nothing). Run from the
repository: ``python -m tests.search.killed_run RUN_FOLDER CALL``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from promptopt.testing import FakeCompleter, topic_answers
from tests.search.test_loop import SETTINGS, open_run

if __name__ == "__main__":
    folder, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    open_run(
        folder, replace(SETTINGS, max_trials=8), FakeCompleter(topic_answers(), kill_after=kill_at)
    ).optimizer.run()
