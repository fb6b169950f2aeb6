"""The fine-tune probe: a quick supervised model (TF-IDF over words and bigrams joined with
TF-IDF over character 2-5-grams, then logistic regression, from scikit-learn) trained on the cleaned train split and scored on the run's test
examples. It shows what learning from the data reaches, next to the prompt ceiling. This is the
only module of the spec that imports scikit-learn, and only when the probe runs."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from promptopt.evaluate.scoring import Outcome, Scores, score
from promptopt.task.spec import Example

METHOD = "TF-IDF (words 1-2 and characters 2-5) + logistic regression (C=10), scikit-learn"


@dataclass(frozen=True)
class ProbeResult:
    """``seconds``: training and scoring; ``ms_per_example``: predicting alone; ``correct``
    and ``predicted``: each test example's outcome and answer by id (for paired comparisons with
    the prompt, and the errors every model shares)."""

    method: str
    n_train: int
    scores: Scores
    seconds: float
    ms_per_example: float = float("nan")
    correct: Mapping[str, bool] = field(default_factory=dict)
    predicted: Mapping[str, str] = field(default_factory=dict)


def run_probe(train: Sequence[Example], test: Sequence[Example], *, seed: int) -> ProbeResult | None:
    """Fit on ``train`` and score on ``test`` (95% bootstrap interval with ``seed``). None
    when ``train`` holds fewer than two labels (nothing to learn)."""
    if len({e.label for e in train}) < 2 or not test:
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    start = time.perf_counter()
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    model = make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000))
    model.fit([e.text for e in train], [e.label for e in train])
    predicting = time.perf_counter()
    predicted = [str(p) for p in model.predict([e.text for e in test])]
    ms = (time.perf_counter() - predicting) * 1000 / len(test)
    outcomes = [Outcome(gold=e.label, predicted=p) for e, p in zip(test, predicted, strict=True)]
    return ProbeResult(
        method=METHOD,
        n_train=len(train),
        scores=score(outcomes, seed=seed),
        seconds=time.perf_counter() - start,
        ms_per_example=ms,
        correct={e.id: p == e.label for e, p in zip(test, predicted, strict=True)},
        predicted={e.id: p for e, p in zip(test, predicted, strict=True)},
    )
