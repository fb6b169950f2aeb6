"""The benchmark harness's arithmetic: ratios against promptopt, the target checks (met, not
resolved, missed, and unchecked when a contender did not run), a failed contender in the table,
the plot, a result surviving the round trip through its kept JSON (what resuming reads), and
which contenders a subset run puts in the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import vs_anchors
from anchors import table
from anchors.common import Answer, Result, Usage, scored

POOL = {"n": 100, "split_n": 100, "ids_sha256": "abc", "drawn": "the whole train split (100 examples)"}
META = {
    "task": "banking77",
    "model": "local/m",
    "date": "2026-11-26",
    "machine": "2 cores",
    "dev_n": 20,
    "test_n": 4,
    "train_n": 100,
    "train_pool": POOL,
    "seed": 0,
    "command": "python benchmarks/vs_anchors.py",
}


def answers(n: int, right: int) -> tuple[Answer, ...]:
    """``n`` test answers, the first ``right`` of them correct."""
    return tuple(Answer(f"t{i}", "a", "a" if i < right else "b", "ok") for i in range(n))


def row(
    name: str, accuracy: float, *, calls: int, seconds: float, per_call: float, n: int = 4
) -> dict[str, Any]:
    return Result(
        contender=name,
        status="ok",
        accuracy=accuracy,
        ci=(accuracy - 0.1, accuracy + 0.1),
        n_test=n,
        optimization=Usage(calls=calls, seconds=seconds),
        test=Usage(calls=4, seconds=1.0),
        final_prompt_tokens_per_call=per_call,
        failed=0,
        unparseable=0,
        train_n=100,
        train_ids_sha256="abc",
        answers=answers(n, round(accuracy * n)),
    ).to_json()


def test_targets_are_met_not_resolved_missed_or_unchecked_from_the_figures() -> None:
    ours = row("promptopt", 0.90, calls=96, seconds=99.0, per_call=300.0, n=100)
    rows = [
        ours,
        row("dspy-miprov2-light", 0.20, calls=400, seconds=1000.0, per_call=1200.0, n=100),
        row("retrieval-10", 0.86, calls=0, seconds=0.0, per_call=900.0, n=100),
        row("probe", 0.94, calls=0, seconds=1, per_call=0, n=100),
    ]
    checks = {name: t["verdict"] for name, t in table.targets(rows).items()}
    assert checks["60_points_above_miprov2"] == "met"  # +70, far beyond its interval
    assert checks["fifth_of_miprov2_wall_time"] == checks["third_of_miprov2_tokens_per_call"] == "met"
    # +4 points on 100: the point estimate meets 3, the paired interval cannot
    assert checks["3_points_above_retrieval"] == "not resolved"
    assert checks["within_3_points_of_probe"] == "missed"  # 90 < 94 - 3
    slower = [row("promptopt", 0.90, calls=96, seconds=500.0, per_call=300.0, n=100), *rows[1:]]
    assert table.targets(slower)["fifth_of_miprov2_wall_time"]["verdict"] == "missed"
    assert table.targets([ours])["60_points_above_miprov2"]["verdict"] == "not checked"


def test_the_table_shows_ratios_against_promptopt_and_failed_contenders() -> None:
    rows = [
        row("promptopt", 0.90, calls=96, seconds=99.0, per_call=300.0),
        row("dspy-predict", 0.25, calls=0, seconds=49.0, per_call=1500.0),
        Result(contender="dspy-gepa", status="failed", reason="ValueError: no reflection").to_json(),
    ]
    text = table.markdown(rows, META)
    predict = next(line for line in text.splitlines() if line.startswith("| dspy-predict"))
    assert "-65.0" in predict and "0.04x" in predict and "5.00x" in predict and "0.50x" in predict
    assert predict.count("|") == table.COLUMNS + 1
    failed = next(line for line in text.splitlines() if line.startswith("| dspy-gepa"))
    assert "failed: ValueError: no reflection" in failed and failed.count("|") == table.COLUMNS + 1
    assert "target at least 60 points above MIPROv2 light: not checked" in text


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
        "zero-shot",
        [
            Answer("t0", "a", "a", "ok"),
            Answer("t1", "b", "b", "ok"),
            Answer("t2", "a", "b", "ok"),
            Answer("t3", "b", None, "unparseable"),
        ],
        seed=0,
        test=Usage(calls=4, prompt_tokens=40),
    )
    assert result.accuracy == 0.5 and result.n_test == 4 and result.unparseable == 1
    assert Result.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_a_result_kept_before_the_counts_reads_back_with_them_unknown() -> None:
    old = scored("probe", [Answer("t0", "a", "a", "ok")], seed=0).to_json()
    for key in ("failed", "unparseable", "train_n", "train_ids_sha256", "answers"):
        del old[key]
    result = Result.from_json(old)
    assert result.failed is None and result.train_n is None and result.answers == ()
    assert "| n/a / n/a | n/a |" in table.markdown([result.to_json()], META)


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
    result = scored("probe", [Answer("t0", "a", "a", "ok"), Answer("t1", "b", "a", "ok")], seed=0)
    (tmp_path / "probe.json").write_text(json.dumps(result.to_json()))
    assert vs_anchors.kept("probe", tmp_path, redo=False) == result
    assert vs_anchors.kept("probe", tmp_path, redo=True) is None
    assert vs_anchors.kept("zero-shot", tmp_path, redo=False) is None
