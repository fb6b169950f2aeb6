"""Hand-offs of a run whose budget ran short in the final scoring: its winner has a test score
on only part of the test slice and the baseline none. Export and verify, the report, and the
fine-tuning spec all compare on exactly the examples the winner was scored on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptopt.handoff.finetune.spec import SpecOptions, build_spec
from promptopt.handoff.report.build import analyse
from promptopt.prompt.candidate import Candidate
from promptopt.run.reader import open_finished, run_test_examples
from promptopt.task.spec import Task
from promptopt.testing import build_finished_run, load_tiny_task, write_tiny_task
from tests.conftest import Invoke
from tests.handoff.export_cases import INSTRUCTION, export_run, hashed, rescore, runtime_for

SCORED = 10  # of the 24 test examples of the run


@pytest.fixture
def partial(tmp_path: Path) -> tuple[Task, Path]:
    write_tiny_task(tmp_path)
    task = load_tiny_task(tmp_path)
    winner = Candidate(INSTRUCTION, demo_strategy="retrieved", k=3)
    run = build_finished_run(tmp_path / "run", task, winner, hashed(), test_limit=24, test_scored=SCORED)
    return task, run


def test_the_run_reads_as_a_winner_scored_on_part_of_the_test_slice(partial: tuple[Task, Path]) -> None:
    task, run = partial
    found = open_finished(run)
    summary = found.summary
    assert summary.best_test_n == SCORED and summary.test_n == 24 and summary.baseline_test_accuracy is None
    assert summary.test_incomplete == "budget-calls" and summary.best_test_accuracy is not None
    assert len(found.info.test_ids) == 24 and found.scored_test_ids == found.info.test_ids[:SCORED]
    assert [e.id for e in run_test_examples(found, task)] == list(found.scored_test_ids)


def test_verify_compares_the_recorded_examples_now_and_as_recorded(partial: tuple[Task, Path]) -> None:
    task, run = partial
    artifact = export_run(run, task)[0]
    report = rescore(runtime_for(artifact, hashed()), task)
    assert report.n == 24 and report.compared == SCORED and report.mismatches == ()
    summary = json.loads((run / "summary.json").read_text())
    assert report.recorded_accuracy == pytest.approx(summary["best_test_accuracy"])
    assert report.compared_accuracy == report.recorded_accuracy
    expected = json.loads(artifact.read_text())["expected"]
    assert expected["n"] == SCORED and expected["test_n"] == 24 and expected["complete"] is False


def test_the_fine_tune_gate_and_the_probe_are_on_the_winners_examples(partial: tuple[Task, Path]) -> None:
    task, run = partial
    found = open_finished(run)
    spec = build_spec(found, task, SpecOptions(min_examples=1, min_per_class=1), lambda *_: None)
    assert spec.gate.test_ids == found.scored_test_ids and len(spec.gate.test_ids) == SCORED
    assert [e.id for e in spec.gate_examples] == list(found.scored_test_ids)
    assert spec.probe is not None and spec.probe.scores.n == SCORED


def test_the_report_says_on_how_many_test_examples(partial: tuple[Task, Path], invoke: Invoke) -> None:
    _, run = partial
    analysis = analyse(open_finished(run))
    assert analysis.unfixed_test.n_answered == SCORED
    out = run.parent / "report"
    result = invoke("report", str(run), "--no-ablations", "--out", str(out))
    assert result.exit_code == 0, result.flat
    text = (out / "report.md").read_text()
    assert f"{SCORED} of 24 test examples" in " ".join(text.split())
