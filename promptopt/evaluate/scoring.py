"""Scores over per-example outcomes: accuracy, macro-F1, per-class recall, confusions, and
95% bootstrap intervals.

Conventions: an ``invalid`` answer (not a label) counts as wrong; an ``error`` (no answer
because the call failed) is excluded from every score and reported apart, never scored 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INVALID = "<invalid>"


@dataclass(frozen=True)
class Outcome:
    """The scorable part of one example: gold label and predicted label (None = invalid)."""

    gold: str
    predicted: str | None


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    ci_low: float
    ci_high: float
    f1_ci_low: float
    f1_ci_high: float
    per_class_recall: dict[str, float]
    confusions: list[tuple[str, str, int]]


def accuracy(outcomes: Sequence[Outcome]) -> float:
    if not outcomes:
        return float("nan")
    return sum(o.predicted == o.gold for o in outcomes) / len(outcomes)


def macro_f1(outcomes: Sequence[Outcome]) -> float:
    """Unweighted mean of per-class F1 over the classes seen as gold or as a (valid) prediction.

    An invalid answer lowers its gold class's recall but is not itself a class.
    """
    if not outcomes:
        return float("nan")
    golds = [o.gold for o in outcomes]
    preds = [o.predicted if o.predicted is not None else INVALID for o in outcomes]
    return _macro_f1_arrays(*_encode(golds, preds))


def _encode(golds: Sequence[str], preds: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    classes = sorted(set(golds) | (set(preds) - {INVALID}))
    index = {c: i for i, c in enumerate(classes)}
    invalid = len(classes)
    gold_idx = np.array([index[g] for g in golds], dtype=np.int64)
    pred_idx = np.array([index.get(p, invalid) for p in preds], dtype=np.int64)
    return gold_idx, pred_idx, len(classes)


def _macro_f1_arrays(gold: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    hit = gold == pred
    tp = np.bincount(gold[hit], minlength=n_classes)[:n_classes]
    gold_count = np.bincount(gold, minlength=n_classes)[:n_classes]
    pred_count = np.bincount(pred, minlength=n_classes + 1)[:n_classes]
    present = (gold_count + pred_count) > 0
    denom = gold_count + pred_count
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_classes, dtype=float), where=denom > 0)
    return float(f1[present].mean()) if present.any() else float("nan")


def bootstrap_interval(
    outcomes: Sequence[Outcome], *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile bootstrap intervals ``((acc_low, acc_high), (f1_low, f1_high))``.

    Deterministic for a given ``seed``. With no outcomes both intervals are NaN.
    """
    if not outcomes:
        nan = float("nan")
        return (nan, nan), (nan, nan)
    golds = [o.gold for o in outcomes]
    preds = [o.predicted if o.predicted is not None else INVALID for o in outcomes]
    gold, pred, n_classes = _encode(golds, preds)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(outcomes), size=(resamples, len(outcomes)))
    accs = (gold[draws] == pred[draws]).mean(axis=1)
    f1s = np.array([_macro_f1_arrays(gold[d], pred[d], n_classes) for d in draws])
    tail = (1.0 - level) / 2 * 100
    acc_lo, acc_hi = np.percentile(accs, [tail, 100 - tail])
    f1_lo, f1_hi = np.percentile(f1s, [tail, 100 - tail])
    return (float(acc_lo), float(acc_hi)), (float(f1_lo), float(f1_hi))


def per_class_recall(outcomes: Sequence[Outcome]) -> dict[str, float]:
    totals = Counter(o.gold for o in outcomes)
    hits = Counter(o.gold for o in outcomes if o.predicted == o.gold)
    return {label: hits[label] / totals[label] for label in sorted(totals)}


def confusion_pairs(outcomes: Sequence[Outcome], *, top: int = 10) -> list[tuple[str, str, int]]:
    """The most frequent ``(gold, predicted, count)`` mistakes; invalid shows as ``<invalid>``."""
    pairs = Counter(
        (o.gold, o.predicted if o.predicted is not None else INVALID)
        for o in outcomes
        if o.predicted != o.gold
    )
    return [(g, p, c) for (g, p), c in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def score(outcomes: Sequence[Outcome], *, seed: int = 0) -> Scores:
    (lo, hi), (f_lo, f_hi) = bootstrap_interval(outcomes, seed=seed)
    return Scores(
        n=len(outcomes),
        accuracy=accuracy(outcomes),
        macro_f1=macro_f1(outcomes),
        ci_low=lo,
        ci_high=hi,
        f1_ci_low=f_lo,
        f1_ci_high=f_hi,
        per_class_recall=per_class_recall(outcomes),
        confusions=confusion_pairs(outcomes),
    )
