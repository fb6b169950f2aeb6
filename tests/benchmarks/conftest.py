"""The benchmark scripts run from ``benchmarks/`` and import their helpers as ``anchors``; the
bench here is the tiny task with test doubles for every model (a fake completer for promptopt,
a hashing embedder for MiniLM, DSPy's ``DummyLM``), so nothing needs a model or the network."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import vs_anchors
from anchors.common import Bench

from promptopt.settings import Paths
from promptopt.testing import MODEL, FakeCompleter, HashEmbedder, tiny_task, topic_answers

TRAIN_LIMIT = 30  # of the tiny task's 120 train examples


def _dummy_lm(answers: list[dict[str, Any]]) -> Any:
    from dspy.utils import DummyLM

    return DummyLM(answers * 200)


def _tiny_bench(tmp_path: Path, *, train_limit: int | None = TRAIN_LIMIT, **doubles: Any) -> Bench:
    paths = Paths(data_dir=tmp_path, task_dirs=(), models_dir=tmp_path, cache_file=None, embed_dir=None)
    bench = vs_anchors.make_bench(
        tiny_task(),
        paths,
        model=MODEL,
        seed=0,
        dev_limit=12,
        test_limit=12,
        train_limit=train_limit,
        work_dir=tmp_path / "work",
    )
    defaults: dict[str, Any] = {
        "completer": FakeCompleter(topic_answers(flat=True)),
        "embedder": HashEmbedder(),
        "dspy_lm": _dummy_lm([{"label": "alpha"}]),
    }
    return replace(bench, **{**defaults, **doubles})


@pytest.fixture
def dummy_lm() -> Callable[[list[dict[str, Any]]], Any]:
    """DSPy's scripted LM (ChatAdapter format), answering the given answers in turn, over and over."""
    return _dummy_lm


@pytest.fixture
def tiny_bench(tmp_path: Path) -> Callable[..., Bench]:
    """``tiny_bench(train_limit=..., completer=..., dspy_lm=...)``: the tiny task's bench, its
    train pool a sample of 30 of its 120 train examples unless told otherwise, 12 dev and 12
    test examples, a test double for every model."""

    def make(**options: Any) -> Bench:
        return _tiny_bench(tmp_path, **options)

    return make
