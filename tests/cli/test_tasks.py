"""``promptopt tasks`` and ``promptopt eval`` as a user meets them: exit codes, messages, the
JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli

KEYS = {
    "accuracy",
    "macro_f1",
    "n",
    "invalid",
    "errors",
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "usd",
    "seconds",
    "ci_low",
    "ci_high",
}


def test_unknown_task_exits_3_with_the_known_names(data_dir: Path, run_cli: RunCli) -> None:
    proc = run_cli("eval", "no_such_task", "--data-dir", str(data_dir))
    assert proc.returncode == 3
    assert "no_such_task" in proc.stderr and "banking77" in proc.stderr


def test_missing_api_key_exits_6_before_any_work(data_dir: Path, tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out.json"
    proc = run_cli(
        "eval",
        "cfpb_complaints",
        "--model",
        "openai/gpt-4o-mini",
        "--limit",
        "3",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
    )
    assert proc.returncode == 6 and "OPENAI_API_KEY" in proc.stderr
    assert not out.exists()


def test_missing_data_dir_exits_4_and_says_how_to_fix(tmp_path: Path, run_cli: RunCli) -> None:
    proc = run_cli("eval", "banking77", "--data-dir", str(tmp_path / "nowhere"))
    assert proc.returncode == 4
    assert "PROMPTOPT_DATA_DIR" in proc.stderr and "PolyAI/banking77" in proc.stderr


def test_bad_limit_is_a_usage_error(data_dir: Path, run_cli: RunCli) -> None:
    proc = run_cli("eval", "banking77", "--limit", "0", "--data-dir", str(data_dir))
    assert proc.returncode == 2 and "--limit" in proc.stderr


def test_tasks_lists_sizes_and_label_counts(data_dir: Path, run_cli: RunCli) -> None:
    proc = run_cli("tasks", "--data-dir", str(data_dir))
    assert proc.returncode == 0
    assert "banking77" in proc.stdout and "77" in proc.stdout and "3080" in proc.stdout


@pytest.mark.model
def test_eval_writes_the_json_summary_on_the_real_model(
    data_dir: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    out = tmp_path / "out.json"
    records = tmp_path / "records.jsonl"
    proc = run_cli(
        "eval",
        "banking77",
        "--model",
        "local/qwen2.5-0.5b-instruct",
        "--limit",
        "5",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--records",
        str(records),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())
    assert set(summary) >= KEYS
    assert summary["n"] + summary["errors"] == 5 and summary["calls"] == 5
    assert summary["usd"] == 0.0 and summary["prompt_tokens"] > 5 * 300  # 77 labels listed
    assert summary["ci_low"] <= summary["accuracy"] <= summary["ci_high"]
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(lines) == 5 and {"prediction", "gold", "status", "prompt_tokens", "latency_s", "usd"} <= set(
        lines[0]
    )
