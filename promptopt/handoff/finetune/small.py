"""The spec's small fine-tune: the MiniLM classifier (:mod:`promptopt.llm.classifier`) trained on
the cleaned train split, saved into the spec folder (``classifier/``), reloaded from there and
scored on the run's test examples, the ones the best prompt and the probe are scored on. So its
accuracy is the saved model's, and ``promptopt eval gate/task.toml --model classifier/classifier``
(from the spec folder) scores the same model through the gate: the brief's "Distill" step."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from promptopt.evaluate.scoring import Outcome, Scores, score
from promptopt.llm.classifier import METHOD, PREFIX, SmallClassifier, TrainSettings
from promptopt.task.spec import Example

log = logging.getLogger(__name__)

FOLDER = "classifier"  # inside the spec folder
PROGRESS_EVERY_S = 30.0


@dataclass(frozen=True)
class SmallResult:
    """The saved model's scores on the test examples; ``train_seconds`` and ``size_bytes`` as
    training measured them; ``ms_per_example``: predicting the test examples, one batch."""

    method: str
    folder: Path
    n_train: int
    epochs: int
    scores: Scores
    train_seconds: float
    ms_per_example: float
    size_bytes: int
    correct: Mapping[str, bool] = field(default_factory=dict)
    predicted: Mapping[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model string ``promptopt eval`` takes, from the spec folder."""
        return PREFIX + FOLDER


class _Progress:
    """Logs the step and the time left at most every ``PROGRESS_EVERY_S`` seconds."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, step: int, steps: int, seconds: float) -> None:
        if seconds - self.last < PROGRESS_EVERY_S and step < steps:
            return
        self.last = seconds
        left = seconds / step * (steps - step)
        log.info("small fine-tune: step %d of %d, about %.0f s left", step, steps, left)


def train_small(
    train: Sequence[Example],
    test: Sequence[Example],
    folder: Path,
    *,
    settings: TrainSettings | None = None,
) -> SmallResult | None:
    """Train, save into ``folder`` (replaced), reload and score on ``test``. None when ``train``
    holds fewer than two labels or ``test`` is empty (nothing to learn or to score)."""
    if len({e.label for e in train}) < 2 or not test:
        return None
    settings = settings or TrainSettings()
    log.info(
        "small fine-tune: %s, fine-tuned on %d of %d train examples for %d epoch(s)",
        METHOD,
        min(settings.max_examples, len(train)),
        len(train),
        settings.epochs,
    )
    model, report = SmallClassifier.train(
        [e.text for e in train], [e.label for e in train], settings, progress=_Progress()
    )
    if folder.exists():
        shutil.rmtree(folder)
    saved = model.save(folder, report)
    loaded = SmallClassifier.load(folder)
    start = time.perf_counter()
    predicted = loaded.predict([e.text for e in test])
    ms = (time.perf_counter() - start) * 1000 / len(test)
    outcomes = [Outcome(gold=e.label, predicted=p) for e, p in zip(test, predicted, strict=True)]
    return SmallResult(
        method=METHOD,
        folder=folder,
        n_train=saved.n_train,
        epochs=saved.epochs,
        scores=score(outcomes, seed=settings.seed),
        train_seconds=saved.seconds,
        ms_per_example=ms,
        size_bytes=saved.size_bytes,
        correct={e.id: p == e.label for e, p in zip(test, predicted, strict=True)},
        predicted={e.id: p for e, p in zip(test, predicted, strict=True)},
    )
