"""The benchmark harness's arithmetic: ratios against promptopt, the target checks (met, missed,
and unchecked when a contender did not run), a failed contender in the table, the plot, a
result surviving the round trip through its kept JSON (what resuming reads), and which
contenders a subset run puts in the table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import vs_anchors
from anchors import table
from anchors.common import Result, Usage, scored

META = {
    "task": "banking77",
    "model": "local/m",
    "date": "2026-11-26",
    "machine": "2 cores",
    "dev_n": 20,
    "test_n": 4,
    "train_n": 100,
    "command": "python benchmarks/vs_anchors.py",
}


def row(name: str, accuracy: float, *, calls: int, seconds: float, per_call: float) -> dict[str, Any]:
    return Result(
        contender=name,
        status="ok",
        accuracy=accuracy,
        ci=(accuracy - 0.1, accuracy + 0.1),
        n_test=4,
        optimization=Usage(calls=calls, seconds=seconds),
        test=Usage(calls=4, seconds=1.0),
        final_prompt_tokens_per_call=per_call,
    ).to_json()


def test_targets_are_met_missed_or_unchecked_from_the_figures() -> None:
    ours = row("promptopt", 0.90, calls=96, seconds=99.0, per_call=300.0)
    rows = [
        ours,
        row("dspy-miprov2-light", 0.20, calls=400, seconds=1000.0, per_call=1200.0),
        row("retrieval-10", 0.86, calls=0, seconds=0.0, per_call=900.0),
        row("probe", 0.94, calls=0, seconds=1, per_call=0),
    ]
    checks = table.targets(rows)
    assert checks["60_points_above_miprov2"] and checks["fifth_of_miprov2_wall_time"]
    assert checks["third_of_miprov2_tokens_per_call"] and checks["3_points_above_retrieval"]
    assert checks["within_3_points_of_probe"] is False  # 90 < 94 - 3
    slower = [row("promptopt", 0.90, calls=96, seconds=500.0, per_call=300.0), *rows[1:]]
    assert table.targets(slower)["fifth_of_miprov2_wall_time"] is False
    assert table.targets([ours])["60_points_above_miprov2"] is None


def test_the_table_shows_ratios_against_promptopt_and_failed_contenders() -> None:
    rows = [
        row("promptopt", 0.90, calls=96, seconds=99.0, per_call=300.0),
        row("dspy-predict", 0.25, calls=0, seconds=49.0, per_call=1500.0),
        Result(contender="dspy-gepa", status="failed", reason="ValueError: no reflection").to_json(),
    ]
    text = table.markdown(rows, META)
    predict = next(line for line in text.splitlines() if line.startswith("| dspy-predict"))
    assert "-65.0" in predict and "0.04x" in predict and "5.00x" in predict and "0.50x" in predict
    assert "failed: ValueError: no reflection" in text
    assert "target 60 points above miprov2: not checked" in text


def test_the_plot_is_written(tmp_path: Path) -> None:
    rows = [
        row("promptopt", 0.9, calls=96, seconds=99.0, per_call=300.0),
        row("probe", 0.94, calls=0, seconds=0.0, per_call=0),
    ]
    rows[1]["test"]["calls"] = 0
    table.plot(rows, META, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_kept_result_reads_back_equal() -> None:
    result = scored(
        "zero-shot", ["a", "b", "a", "b"], ["a", "b", "b", ""], seed=0, test=Usage(calls=4, prompt_tokens=40)
    )
    assert result.accuracy == 0.5 and result.n_test == 4
    assert Result.from_json(result.to_json()) == result


def test_a_subset_run_keeps_the_other_kept_contenders_in_the_table(tmp_path: Path) -> None:
    (tmp_path / "probe.json").write_text("{}")
    (tmp_path / "zero-shot.json").write_text("{}")
    assert vs_anchors.in_table({"dspy-miprov2-light"}, tmp_path) == [
        "zero-shot",
        "probe",
        "dspy-miprov2-light",
    ]
    assert vs_anchors.in_table(set(), tmp_path / "empty") == []


def test_kept_results_are_read_unless_redone(tmp_path: Path) -> None:
    result = scored("probe", ["a", "b"], ["a", "a"], seed=0)
    (tmp_path / "probe.json").write_text(json.dumps(result.to_json()))
    assert vs_anchors.kept("probe", tmp_path, redo=False) == result
    assert vs_anchors.kept("probe", tmp_path, redo=True) is None
    assert vs_anchors.kept("zero-shot", tmp_path, redo=False) is None
