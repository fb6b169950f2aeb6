"""The small fine-tuned classifier, on the real MiniLM encoder: it learns, its folder reloads to
the same predictions, and the gateway serves it as ``classifier/<folder>`` like any model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptopt.errors import ModelError
from promptopt.llm import classifier as clf
from promptopt.llm.classifier import SmallClassifier, TrainSettings
from promptopt.llm.gateway import LiteLLMGateway
from promptopt.llm.types import CompletionRequest
from promptopt.testing import tiny_task

pytestmark = pytest.mark.model

QUICK = TrainSettings(epochs=2, batch_size=16, max_seq_tokens=32, max_examples=96)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[SmallClassifier, Path, float]:
    task = tiny_task(n_train=96, n_test=48)
    train, test = task.split("train"), task.split("test")
    steps: list[int] = []
    model, report = SmallClassifier.train(
        [e.text for e in train],
        [e.label for e in train],
        QUICK,
        progress=lambda step, total, seconds: steps.append(step),
    )
    assert report.n_train == 96 and report.steps == 2 * 6 and steps == list(range(1, 13))
    folder = tmp_path_factory.mktemp("clf") / "classifier"
    saved = model.save(folder, report)
    assert saved.size_bytes > 10_000_000  # the encoder's weights are in the folder
    predicted = model.predict([e.text for e in test])
    accuracy = sum(p == e.label for p, e in zip(predicted, test, strict=True)) / len(test)
    return model, folder, accuracy


def test_it_learns_the_labels_far_above_chance(trained: tuple[SmallClassifier, Path, float]) -> None:
    model, _, accuracy = trained
    chance = 1 / len(model.labels)
    assert accuracy >= 0.8 > 3 * chance, accuracy


def test_the_saved_folder_reloads_to_the_same_predictions(
    trained: tuple[SmallClassifier, Path, float],
) -> None:
    model, folder, _ = trained
    texts = [e.text for e in tiny_task(n_test=48).split("test")]
    assert SmallClassifier.load(folder).predict(texts) == model.predict(texts)
    meta = json.loads((folder / "classifier.json").read_text())
    assert meta["format"] == clf.FORMAT and meta["labels"] == list(model.labels)
    assert meta["training"]["n_train"] == 96 and meta["settings"]["max_seq_tokens"] == 32


def test_the_gateway_serves_it_as_a_model(
    trained: tuple[SmallClassifier, Path, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, folder, _ = trained
    monkeypatch.chdir(folder.parent)  # a relative folder, as the gate's command gives it
    gateway = LiteLLMGateway()
    name = clf.PREFIX + folder.name
    gateway.check(name, {})
    example = tiny_task(n_test=48).split("test")[0]
    request = CompletionRequest(
        model=name, messages=(("system", "Labels: ..."), ("user", example.text)), max_tokens=8
    )
    response = gateway.complete(request)
    assert response.text == model.predict([example.text])[0]
    assert response.prompt_tokens == model.count_tokens(example.text) > 2
    assert response.usd == 0.0
    assert gateway.fingerprint(name) == clf.fingerprint(folder) != ""


def test_a_folder_that_is_not_a_classifier_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a promptopt classifier folder") as info:
        LiteLLMGateway().check(clf.PREFIX + str(tmp_path), {})
    assert "finetune-spec" in (info.value.hint or "")
    (tmp_path / "classifier.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ModelError, match="format 'other'"):
        SmallClassifier.load(tmp_path)


@pytest.mark.parametrize(
    "field", ["epochs", "batch_size", "head_steps", "head_examples", "max_seq_tokens", "max_examples"]
)
def test_settings_below_one_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be at least 1"):
        TrainSettings(**{field: 0}).check()
