"""On the embedded model, from the command line: a call budget too small to score the best
candidate and the baseline on the whole test slice still returns the best prompt found on dev,
scored on as many test examples as the budget allowed (the baseline's score given up first);
--max-prompt-tokens holds for the exported winner; a cap below any prompt is refused before a
run folder exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptopt.production.artifact import read_artifact
from tests.conftest import RunCli


@pytest.mark.model
def test_a_tight_budget_returns_the_best_prompt_on_fewer_test_examples_within_the_token_cap(
    data_dir: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    run = tmp_path / "run"
    cap = 650
    proc = run_cli(
        "optimize",
        "banking77",
        "--data-dir",
        str(data_dir.resolve()),
        "--dev-limit",
        "8",
        "--test-limit",
        "30",
        "--budget-calls",
        "44",
        "--max-prompt-tokens",
        str(cap),
        "--retrievers",
        "char,word",
        "--run-dir",
        str(run),
        "--no-cache",
    )
    assert proc.returncode == 0, proc.stderr
    assert "seeds, cheapest first" in proc.stderr and "Final test scoring: 30 examples" in proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    ledger = (run / "ledger.jsonl").read_text().splitlines()
    assert summary["calls"] == len(ledger) <= 44

    def tokens(candidate: str, split: str) -> list[int]:
        return [r["prompt_tokens"] for r in rows if r["candidate_id"] == candidate and r["split"] == split]

    full = [e for e in events if e["event"] == "evaluated" and not e["raced_out"]]
    within = [e for e in full if sum(tokens(e["candidate"], "dev")) / e["n"] <= cap]
    best_on_dev = max(within, key=lambda e: e["accuracy"])  # ties: the earlier one, as the run
    assert summary["best_candidate_id"] == best_on_dev["candidate"]
    # 44 calls cannot pay for both on 30 test examples: the winner gets what is left, the
    # baseline's score is given up first
    best_n = summary["best_test_n"]
    assert summary["test_incomplete"] == "budget-calls" and 0 < best_n <= 30
    assert summary["baseline_candidate_id"] == summary["best_candidate_id"] or summary["baseline_test_n"] < 30
    assert summary["best_test_accuracy"] is not None
    scored_test = tokens(summary["best_candidate_id"], "test")
    assert len(scored_test) == best_n and sum(scored_test) / best_n <= cap * 1.1
    assert sum(tokens(summary["best_candidate_id"], "dev")) / best_on_dev["n"] <= cap
    assert any(e["event"] == "over_cap" for e in events)  # the 10-demo seed costs more than the cap

    exported = run_cli("export", str(run), "--data-dir", str(data_dir.resolve()))
    assert exported.returncode == 0, exported.stderr
    assert read_artifact(run / "export" / "prompt.json").candidate.id == summary["best_candidate_id"]


def test_a_token_cap_below_the_zero_shot_prompt_is_refused_before_a_run_folder_exists(
    data_dir: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    run = tmp_path / "run"
    proc = run_cli(
        "optimize",
        "banking77",
        "--data-dir",
        str(data_dir.resolve()),
        "--max-prompt-tokens",
        "100",
        "--run-dir",
        str(run),
    )
    assert proc.returncode == 2, proc.stderr
    assert "--max-prompt-tokens 100 is below the zero-shot prompt" in proc.stderr and "raise" in proc.stderr
    assert not run.exists()
