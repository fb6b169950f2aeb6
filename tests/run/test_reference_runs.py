"""The committed reference runs (benchmarks/reference-runs/, real runs written by the code
before the typed records) read back through the typed records and write the same JSON again,
key order included, and each opens as a finished run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptopt.evaluate.evaluator import ExampleRecord
from promptopt.prompt.candidate import Candidate
from promptopt.run.events import Evaluated, event_from_json
from promptopt.run.reader import open_finished
from promptopt.run.summary import RunSummary
from tests.conftest import REPO

RUNS = sorted(p for p in (REPO / "benchmarks" / "reference-runs").iterdir() if (p / "run.json").is_file())


def keys(value: Any) -> Any:
    """The key order of every object in ``value``, nested (what == on dicts does not check)."""
    if isinstance(value, dict):
        return [(k, keys(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [keys(v) for v in value]
    return None


def as_written(data: Any) -> Any:
    """``data`` as a run folder holds it: JSON text, parsed (tuples become lists)."""
    return json.loads(json.dumps(data, ensure_ascii=False))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_reference_runs_are_there_and_each_is_listed_in_their_readme() -> None:
    listed = (REPO / "benchmarks" / "reference-runs" / "README.md").read_text(encoding="utf-8")
    assert len(RUNS) >= 4, RUNS
    assert all(f"`{run.name}`" in listed for run in RUNS)


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_every_event_of_a_reference_run_writes_back_the_same_json(run: Path) -> None:
    originals = lines(run / "events.jsonl")
    assert originals
    for number, original in enumerate(originals, start=1):
        back = as_written(event_from_json(original).to_json())
        assert back == original, f"events.jsonl:{number}"
        assert keys(back) == keys(original), f"events.jsonl:{number}"


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_the_summary_of_a_reference_run_writes_back_the_same_json(run: Path) -> None:
    original = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    back = as_written(RunSummary.from_json(original).to_json())
    assert back == original
    assert keys(back) == keys(original)


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_the_candidates_of_a_reference_run_write_back_the_same_json(run: Path) -> None:
    originals = lines(run / "candidates.jsonl")
    assert originals
    for number, original in enumerate(originals, start=1):
        candidate = Candidate.from_json(original)
        assert candidate.id == original["id"], (
            f"candidates.jsonl:{number}"
        )  # the id is recomputed, not copied
        back = as_written(candidate.to_json())
        assert back == original, f"candidates.jsonl:{number}"
        assert keys(back) == keys(original), f"candidates.jsonl:{number}"


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_the_evaluation_rows_of_a_reference_run_read_back(run: Path) -> None:
    """Rows of that version have no ``live_latency_s``: it reads back as None, the rest as written."""
    for number, row in enumerate(lines(run / "evaluations.jsonl"), start=1):
        back = as_written(ExampleRecord.from_json(row).to_json())
        written = {k: v for k, v in row.items() if k not in ("candidate_id", "split")}
        assert back == {**written, "live_latency_s": written.get("live_latency_s")}, (
            f"evaluations.jsonl:{number}"
        )


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_a_reference_run_opens_as_a_finished_run(run: Path) -> None:
    found = open_finished(run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert (
        found.run_id == run.name
        and found.info.task == info["task"]
        and found.info.model == info["settings"]["model"]
    )
    assert found.info.test_ids == tuple(info["test_ids"]) and found.info.dev_ids == tuple(info["dev_ids"])
    assert as_written(found.summary.to_json()) == summary
    assert found.best.id == summary["best_candidate_id"] == found.summary.best_candidate.id
    assert found.baseline is not None and found.baseline.id == summary["baseline_candidate_id"]
    found.require_test_score()
    rows = found.best_test_rows
    assert [r.example_id for r in rows] == list(found.info.test_ids) and len(rows) == summary["test_n"]
    answered = [r for r in rows if r.status != "error"]
    assert sum(r.correct for r in answered) / len(answered) == pytest.approx(summary["best_test_accuracy"])
    assert len(found.baseline_test_rows) == summary["test_n"]
    assert len(found.history.of(Evaluated)) == summary["evaluations"]
    assert found.task_latency().calls > 0
