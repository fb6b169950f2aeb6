"""``benchmarks/widen_test.py``: a finished run's best prompt scored on the test examples the run
did not score, in a copy (the run itself untouched), resumable, with the summary recomputed;
here on a run of the real optimizer with the fake model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import widen_test

from promptopt import compose
from promptopt.evaluate.evaluator import EvalSettings, Evaluator
from promptopt.llm.ledger import Ledger
from promptopt.prompt.demos import DemoSource
from promptopt.run.history import History
from promptopt.run.reader import open_finished
from promptopt.settings import Paths
from promptopt.task.spec import Task
from promptopt.testing import FakeCompleter, topic_answers
from tests.handoff import test_report
from tests.handoff.worlds import World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("widen"), test_report.WORLD)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCompleter:
    """The fake model through a real Evaluator, where the script opens its evaluator."""
    completer = FakeCompleter(topic_answers())

    def open_eval(task: Task, paths: Paths, *, model: str, seed: int, temperature: float, **_: Any) -> Any:
        evaluator = Evaluator(
            completer=completer,
            labels=task.labels,
            demo_source=DemoSource(task.split("train")),
            settings=EvalSettings(model=model, temperature=temperature, seed=seed),
        )
        return compose.EvalRun(evaluator=evaluator, ledger=Ledger(), completer=completer)

    monkeypatch.setattr(compose, "open_eval", open_eval)
    return completer


def _digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()


def test_the_best_prompt_is_scored_on_the_rest_of_the_test_split(
    world: World, fake: FakeCompleter, tmp_path: Path
) -> None:
    source, before = world.short_run, _digest(world.short_run)
    original = open_finished(source)
    out = tmp_path / "wide"
    widen_test.widen(source, out, None, world.paths)
    assert _digest(source) == before  # the run itself is not written
    wide = open_finished(out)
    everything = {e.id for e in world.task.split("test")}
    assert len(original.info.test_ids) < len(everything)
    assert wide.info.test_ids[: len(original.info.test_ids)] == original.info.test_ids  # the run's own first
    assert set(wide.info.test_ids) == everything
    assert {r.example_id for r in wide.best_test_rows} == everything
    assert {r.example_id for r in wide.baseline_test_rows} == everything
    assert wide.summary.best_test_n == wide.summary.baseline_test_n == wide.summary.test_n == len(everything)
    assert fake.calls == 2 * (len(everything) - len(original.info.test_ids))  # only the new ones, both
    mark = wide.store.read_json("run.json")["widened_test"]
    assert mark["finished"] and mark["from_run"] == str(source)
    assert mark["added_test_ids"] == list(wide.info.test_ids[len(original.info.test_ids) :])
    # the run's own rows are kept as they were
    kept = {r.example_id: r for r in wide.best_test_rows}
    assert all(kept[r.example_id] == r for r in original.best_test_rows)


def test_an_interrupted_widening_continues_without_scoring_twice(
    world: World, fake: FakeCompleter, tmp_path: Path
) -> None:
    out = tmp_path / "wide"
    widen_test.widen(world.short_run, out, len(open_finished(world.short_run).info.test_ids) + 4, world.paths)
    assert fake.calls == 2 * 4  # the best prompt and the baseline
    widen_test.widen(world.short_run, out, None, world.paths)  # then the rest of the split
    wide = open_finished(out)
    original = wide.store.read_json("run.json")["widened_test"]["original_test_ids"]
    assert fake.calls == 2 * (len(world.task.split("test")) - len(original))  # 4, then the others
    rows = History.load(wide.store).rows(wide.best.id, "test")
    assert len(rows) == len({r.example_id for r in rows}) == len(world.task.split("test"))


def test_a_folder_that_is_not_its_widening_is_refused(
    world: World, fake: FakeCompleter, tmp_path: Path
) -> None:
    out = tmp_path / "other"
    out.mkdir()
    with pytest.raises(SystemExit, match="is not a widening of"):
        widen_test.widen(world.short_run, out, None, world.paths)
    with pytest.raises(SystemExit, match="more than the 48 examples"):
        widen_test.widen(world.short_run, tmp_path / "new", 49, world.paths)
    assert fake.calls == 0 and not (tmp_path / "new").exists()
