"""The one reader of a finished run: what it returns for a run folder, and its errors (a folder
that does not exist or is not a run, an unfinished run, a summary of another version, data
that changed since the run)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from promptopt.errors import DataError, StoreError, UsageError
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import seed_instruction
from promptopt.run.events import EvalStart, Evaluated
from promptopt.run.reader import check_same_data, load_run_task, open_finished, run_test_examples
from promptopt.settings import Paths
from promptopt.task.load import load_task
from promptopt.task.spec import Task
from promptopt.testing import (
    FakeCompleter,
    build_finished_run,
    hashed_answers,
    load_tiny_task,
    write_tiny_task,
)

WINNER = Candidate("Classify the note by its topic.", demo_strategy="retrieved", k=3)


@dataclass(frozen=True)
class Finished:
    root: Path
    paths: Paths
    task: Task
    run: Path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    root = tmp_path_factory.mktemp("reader")
    write_tiny_task(root)
    task = load_tiny_task(root)
    run = build_finished_run(root / "run", task, WINNER, FakeCompleter(hashed_answers(), completion_tokens=1))
    paths = Paths(
        data_dir=root / "data", task_dirs=(root / "tasks",), models_dir=root / "models", cache_file=None
    )
    return Finished(root, paths, task, run)


def copy(finished: Finished, to: Path) -> Path:
    return Path(shutil.copytree(finished.run, to))


def test_a_finished_run_reads_back_as_it_was_written(finished: Finished) -> None:
    run = open_finished(finished.run)
    info = json.loads((finished.run / "run.json").read_text())
    assert run.run_id == "run" and run.info.task == "fake" and run.info.model == "fake/model"
    assert run.info.test_ids == tuple(info["test_ids"]) and run.info.dev_ids == tuple(info["dev_ids"])
    assert json.loads(json.dumps(run.summary.to_json())) == json.loads(
        (finished.run / "summary.json").read_text()
    )
    assert run.best == WINNER and run.summary.best_candidate == WINNER
    assert run.baseline == Candidate(instruction=seed_instruction(finished.task))
    run.require_test_score()
    assert [r.example_id for r in run.best_test_rows] == list(run.info.test_ids)
    assert [r.example_id for r in run.baseline_test_rows] == list(run.info.test_ids)
    assert [e.id for e in run_test_examples(run, finished.task)] == list(run.info.test_ids)
    assert [e.candidate for e in run.history.of(EvalStart)] == [
        e.candidate for e in run.history.of(Evaluated)
    ]
    assert run.history.incumbent() in (run.best, run.baseline)
    assert run.task_latency().calls == run.summary.calls  # every call of this run is a live task call


def test_a_run_folder_that_does_not_exist_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist") as caught:
        open_finished(tmp_path / "nowhere")
    assert "promptopt runs" in str(caught.value)


def test_a_folder_that_is_not_a_run_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    with pytest.raises(StoreError, match="not a run folder"):
        open_finished(tmp_path / "notes")


def test_an_unfinished_run_is_a_usage_error_that_says_how_to_finish_it(
    finished: Finished, tmp_path: Path
) -> None:
    run = copy(finished, tmp_path / "run")
    (run / "summary.json").unlink()
    with pytest.raises(UsageError, match="unfinished") as caught:
        open_finished(run)
    assert f"promptopt resume {run}" in str(caught.value)


def test_a_summary_lacking_keys_is_a_store_error(finished: Finished, tmp_path: Path) -> None:
    run = copy(finished, tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    del summary["pareto"], summary["best_candidate"]
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(StoreError, match="lacks") as caught:
        open_finished(run)
    assert "pareto" in str(caught.value) and "best_candidate" in str(caught.value)
    assert "another promptopt version" in str(caught.value)


def test_a_run_of_another_kind_is_a_store_error(finished: Finished, tmp_path: Path) -> None:
    run = copy(finished, tmp_path / "run")
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "run_kind": "eval"}))
    with pytest.raises(StoreError, match="only optimization runs"):
        open_finished(run)


def test_a_best_prompt_without_a_test_score_is_a_usage_error(finished: Finished, tmp_path: Path) -> None:
    run = copy(finished, tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(
        json.dumps({**summary, "best_test_accuracy": None, "test_incomplete": "time-limit"})
    )
    found = open_finished(run)  # readable: show and the report use it
    with pytest.raises(UsageError, match="no test score") as caught:
        found.require_test_score()
    assert "time-limit" in str(caught.value)


def test_data_that_changed_since_the_run_is_a_data_error(finished: Finished, tmp_path: Path) -> None:
    data = Path(shutil.copytree(finished.paths.data_dir, tmp_path / "data"))
    with (data / "fake" / "dev.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "a new note about gamma", "label": "gamma"}) + "\n")
    changed = load_task("fake", search_dirs=finished.paths.task_dirs, data_dir=data)
    run = open_finished(finished.run)
    with pytest.raises(DataError, match="changed since this run started") as caught:
        check_same_data(changed, run.info.data_hashes, run_name=run.run_id)
    assert (
        "dev: run" in caught.value.what and "train: run" not in caught.value.what
    )  # names the changed split
    with pytest.raises(DataError, match="changed since this run started"):
        load_run_task(run, replace(finished.paths, data_dir=data))
    assert load_run_task(run, finished.paths).data_hashes == finished.task.data_hashes
