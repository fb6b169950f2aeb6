"""Kill anywhere. The real command line, ``promptopt optimize`` over HTTP (an OpenAI-compatible
server answering as the fake model does, calls at concurrency 8), is SIGKILLed at 20 points
spread over its run: before a ledger row, between a call's ledger row and its evaluation record
(whole or torn in half), before an event or a candidate; then ``promptopt resume``. The
optimizer in a child process is also killed as model calls start (6 points). After each: no
example is scored twice, the summary equals the uninterrupted run's, and the calls made again
are at most those in flight at the kill and at most those the ledger shows without a recorded
answer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from promptopt.run.summary import RunSummary
from promptopt.testing import FakeCompleter, topic_answers, write_tiny_task
from tests.search.killed_run import HOLD_S
from tests.search.test_loop import SETTINGS, open_run
from tests.servers import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
CONCURRENCY = 4
RUN = replace(SETTINGS, max_trials=8, concurrency=CONCURRENCY)
SPREAD = (0.03, 0.25, 0.5, 0.75, 0.97)  # where in the run, as a share of its rows
# in this process: as a model call starts (the CLI test below cannot stop a call that starts)
POINTS = [*(("call", f) for f in SPREAD), ("torn:evaluations", 0.5)]
# the real command line, over HTTP
CLI_POINTS = [
    *(("ledger", f) for f in SPREAD),
    *(("evaluations", f) for f in SPREAD),
    *(("torn:evaluations", f) for f in (0.1, 0.6, 0.9)),
    *(("events", f) for f in (0.05, 0.35, 0.65, 0.95)),
    ("events", 1.0),  # the last event: after the test scoring, before the summary
    *(("candidates", f) for f in (0.5, 0.9)),
]
SAME = ("best_candidate_id", "best_test_accuracy", "baseline_test_accuracy", "best_dev_accuracy", "trials")


def _rows(path: Path, name: str) -> list[dict[str, Any]]:
    file = path / f"{name}.jsonl"
    lines = file.read_text().splitlines() if file.is_file() else []  # a run killed before its first row
    return [json.loads(line) for line in lines if line.strip()]


def _whole_rows(path: Path, name: str) -> int:
    """Rows of a killed run's file, a torn last line left out."""
    file = path / f"{name}.jsonl"
    lines = file.read_text().splitlines(keepends=True) if file.is_file() else []
    return sum(1 for line in lines if line.endswith("\n") and line.strip())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    path = tmp_path_factory.mktemp("reference") / "run"
    summary = open_run(path, RUN, FakeCompleter(topic_answers(), hold_s=HOLD_S)).optimizer.run()
    return path, summary


def test_the_points_cover_the_run_at_least_twenty_times() -> None:
    assert len(CLI_POINTS) >= 20 and {
        "ledger",
        "evaluations",
        "torn:evaluations",
        "events",
        "candidates",
    } <= {w for w, _ in CLI_POINTS}


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


# -- the real command line: `promptopt optimize` over HTTP, killed, then `promptopt resume` ----------

CLI_CONCURRENCY = 8  # the default for a remote model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedServer, Path]]:
    root = tmp_path_factory.mktemp("task")
    task = write_tiny_task(root, n_dev=30, n_test=16)
    with ScriptedServer(topic_answers()) as server:
        yield server, task


def _optimize_args(server: ScriptedServer, task: Path, run: Path) -> list[str]:
    return [
        "optimize", str(task), "--data-dir", str(task.parents[1] / "data"), "--model", "openai/served",
        "--api-base", server.base_url, "--dev-limit", "30", "--test-limit", "16", "--max-trials", "8",
        "--retrievers", "word,char", "--run-dir", str(run), "--no-cache",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cli_reference(
    served: tuple[ScriptedServer, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    server, task = served
    run = tmp_path_factory.mktemp("cli-reference") / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "promptopt.cli", *_optimize_args(server, task, run)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return run, json.loads((run / "summary.json").read_text())


@pytest.mark.parametrize(("where", "share"), CLI_POINTS, ids=[f"{w}-{s}" for w, s in CLI_POINTS])
def test_promptopt_optimize_killed_here_resumes_to_the_same_summary(
    tmp_path: Path,
    served: tuple[ScriptedServer, Path],
    cli_reference: tuple[Path, dict[str, Any]],
    where: str,
    share: float,
) -> None:
    server, task = served
    ref_path, ref = cli_reference
    n = max(1, round(share * len(_rows(ref_path, where.removeprefix("torn:")))))
    run = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-m", "tests.search.killed_cli", str(n), where, *_optimize_args(server, task, run)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert not (run / "summary.json").exists()
    before = len(_rows(run, "ledger"))
    unrecorded = before - _whole_rows(run, "evaluations")  # calls ledgered, answers not recorded
    resumed = subprocess.run(
        [sys.executable, "-m", "promptopt.cli", "resume", str(run), "--data-dir", str(task.parents[1] / "data"),
         "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((run / "summary.json").read_text())
    keys = Counter((r["candidate_id"], r["split"], r["example_id"]) for r in _rows(run, "evaluations"))
    assert max(keys.values()) == 1, "an example was scored twice"
    for key in (*SAME, "stop_reason", "evaluations"):
        assert summary[key] == ref[key], key
    assert summary["calls"] == len(_rows(run, "ledger")) >= before
    again = summary["calls"] - ref["calls"]
    assert 0 <= again <= min(CLI_CONCURRENCY, unrecorded), f"{again} calls were made twice"
