"""Run the fake optimization in a child process and SIGKILL it at a given call (used by
test_optimize to prove that resume loses and repeats nothing)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from optfakes import FakeModel
from test_optimize import SETTINGS, open_run

if __name__ == "__main__":
    folder, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    open_run(folder, replace(SETTINGS, max_trials=8), FakeModel(kill_after=kill_at)).optimizer.run()
