"""``promptopt verify`` and ``promptopt predict`` as a user meets them: an edited artifact is
refused before any call, verify reports the score beside the recorded one (and each prediction
that differs), predict reads JSON lines and CSV and writes JSON lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promptopt.testing import FakeCompleter, load_tiny_task
from tests.conftest import Invoke, RunCli
from tests.handoff.export_cases import exported, hashed, runtime_for


def test_cli_verify_and_predict_refuse_an_edited_artifact_before_any_call(
    tmp_path: Path, run_cli: RunCli
) -> None:
    _, _, written = exported(tmp_path, "fixed-turns")
    data = json.loads(written[0].read_text())
    data["labels"] = list(reversed(data["labels"]))
    written[0].write_text(json.dumps(data))
    proc = run_cli(
        "verify",
        str(written[0]),
        str(tmp_path / "tasks" / "fake.toml"),
        "--data-dir",
        str(tmp_path / "data"),
        cwd=tmp_path,
    )
    assert proc.returncode == 8 and "content hash" in proc.stderr and data["content_hash"] in proc.stderr
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "note 1 about beta"}\n')
    proc = run_cli("predict", str(written[0]), "--input", str(inputs), cwd=tmp_path)
    assert proc.returncode == 8 and "re-export" in proc.stderr


@pytest.fixture
def fake_door(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeCompleter], None]:
    """Route the CLI's model calls to a fake (the runtime builds its door in model_door)."""

    def use(model: FakeCompleter) -> None:
        monkeypatch.setattr("promptopt.production.runtime.model_door", lambda *a, **k: (None, model))

    return use


def test_cli_verify_reports_the_score_next_to_the_recorded_one(
    tmp_path: Path, fake_door: Any, invoke: Invoke
) -> None:
    _, run, written = exported(tmp_path, "retrieved-char-labels-code")
    fake_door(hashed())
    report_file = tmp_path / "report.json"
    result = invoke(
        "verify",
        str(written[0]),
        str(tmp_path / "tasks" / "fake.toml"),
        "--data-dir",
        str(tmp_path / "data"),
        "--json",
        str(report_file),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_file.read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert report["ok"] and report["compared"] == summary["test_n"]
    assert report["accuracy"] == pytest.approx(summary["best_test_accuracy"])
    assert "all 30 predictions match" in result.output
    assert "/test: 30/30  acc" in result.output  # not a terminal: a progress line per 10%

    fake_door(hashed(salt="drift"))
    drifted = invoke(
        "verify",
        str(written[0]),
        str(tmp_path / "tasks" / "fake.toml"),
        "--data-dir",
        str(tmp_path / "data"),
        "--limit",
        "10",
    )
    assert drifted.exit_code == 1
    assert (
        "predictions that differ" in drifted.output
        and "differ from the ones the run recorded" in drifted.output
    )


def test_cli_predict_reads_jsonl_and_csv_and_writes_jsonl(
    tmp_path: Path, fake_door: Any, invoke: Invoke
) -> None:
    _, _, written = exported(tmp_path, "stratified-compact-described-code")
    fake_door(hashed())
    texts = ["note 7 about gamma river sand", "note 8 about zeta 00123"]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"q{i}", "body": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    result = invoke(
        "predict", str(written[0]), "--input", str(jsonl), "--text-field", "body", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [runtime_for(written[0], hashed()).classify(t) for t in texts]
    assert [(r["row"], r["id"]) for r in rows] == [(0, "q0"), (1, "q1")]
    assert [r["prediction"] for r in rows] == [p.label for p in expected]
    assert all(r["prediction"] in load_tiny_task(tmp_path).labels or r["status"] == "invalid" for r in rows)

    csv_file = tmp_path / "in.csv"
    csv_file.write_text("text,other\n" + "\n".join(f'"{t}",x' for t in texts) + "\n")
    result = invoke("predict", str(written[0]), "--input", str(csv_file))
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["prediction"] for r in printed] == [p.label for p in expected] and "id" not in printed[0]

    again = invoke("predict", str(written[0]), "--input", str(jsonl), "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.output
    missing = invoke("predict", str(written[0]), "--input", str(jsonl))
    assert missing.exit_code == 4 and "'text'" in missing.output and "body" in missing.output
