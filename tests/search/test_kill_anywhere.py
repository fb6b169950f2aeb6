"""Kill anywhere: an optimization process (fake model, calls overlapping at concurrency 4) is
SIGKILLed at 24 points spread over its run: as a model call starts, before a ledger row, between
a call's ledger row and its evaluation record (whole or torn in half), before an event. Each
killed folder is resumed, and then: no example is scored twice, the summary equals the
uninterrupted run's, and the calls made again are at most those in flight at the kill (the
ledger shows each of them)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from promptopt.run.summary import RunSummary
from promptopt.testing import FakeCompleter, topic_answers
from tests.search.killed_run import HOLD_S
from tests.search.test_loop import SETTINGS, open_run

REPO = Path(__file__).resolve().parents[2]
CONCURRENCY = 4
RUN = replace(SETTINGS, max_trials=8, concurrency=CONCURRENCY)
SPREAD = (0.03, 0.25, 0.5, 0.75, 0.97)  # where in the run, as a share of its rows
POINTS = [
    *(("call", f) for f in SPREAD),
    *(("ledger", f) for f in SPREAD),
    *(("evaluations", f) for f in SPREAD),
    *(("torn:evaluations", f) for f in (0.1, 0.6, 0.9)),
    *(("events", f) for f in (0.05, 0.35, 0.65, 0.95)),
    ("candidates", 0.5),
    ("events", 1.0),  # the last event: after the test scoring, before the summary
]
SAME = ("best_candidate_id", "best_test_accuracy", "baseline_test_accuracy", "best_dev_accuracy", "trials")


def _rows(path: Path, name: str) -> list[dict[str, Any]]:
    file = path / f"{name}.jsonl"
    lines = file.read_text().splitlines() if file.is_file() else []  # a run killed before its first row
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    path = tmp_path_factory.mktemp("reference") / "run"
    summary = open_run(path, RUN, FakeCompleter(topic_answers(), hold_s=HOLD_S)).optimizer.run()
    return path, summary


def test_the_points_cover_the_run_at_least_twenty_times() -> None:
    assert len(POINTS) >= 20 and {"call", "ledger", "evaluations", "torn:evaluations", "events"} <= {
        w for w, _ in POINTS
    }


@pytest.mark.parametrize(("where", "share"), POINTS, ids=[f"{w}-{s}" for w, s in POINTS])
def test_a_run_killed_here_resumes_to_the_same_summary(
    tmp_path: Path, reference: tuple[Path, RunSummary], where: str, share: float
) -> None:
    ref_path, ref = reference
    file = "ledger" if where == "call" else where.removeprefix("torn:")
    n = max(1, round(share * len(_rows(ref_path, file))))
    killed = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.search.killed_run", str(killed), str(n), where, str(CONCURRENCY)],
        cwd=REPO,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr  # killed mid-run, not finished
    assert not (killed / "summary.json").exists()
    before = len(_rows(killed, "ledger"))

    resumed = open_run(killed, RUN, FakeCompleter(topic_answers(), hold_s=HOLD_S), new=False).optimizer.run()
    keys = Counter((r["candidate_id"], r["split"], r["example_id"]) for r in _rows(killed, "evaluations"))
    assert max(keys.values()) == 1, "an example was scored twice"
    for key in SAME:
        assert getattr(resumed, key) == getattr(ref, key), key
    assert resumed.stop_reason == ref.stop_reason and resumed.evaluations == ref.evaluations
    assert resumed.calls == len(_rows(killed, "ledger")) >= before
    again = resumed.calls - ref.calls  # calls ledgered by the killed process, then made again
    assert 0 <= again <= CONCURRENCY, f"{again} calls were made twice"
