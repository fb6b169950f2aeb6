"""Scores over outcomes: hand-computed values, a cross-check with scikit-learn, and intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from promptopt.evaluate.scoring import (
    INVALID,
    Outcome,
    accuracy,
    bootstrap_interval,
    confusion_pairs,
    macro_f1,
    per_class_recall,
    score,
)


def _outcomes(*pairs: tuple[str, str | None]) -> list[Outcome]:
    return [Outcome(gold, predicted) for gold, predicted in pairs]


# a: tp 1, gold 2, predicted 2 -> F1 1/2; b: tp 1, gold 2, predicted 2 (the invalid answer is
# not a prediction of b) -> 1/2; c: tp 0 -> 0. Accuracy 2/5.
HAND = _outcomes(("a", "a"), ("a", "b"), ("b", "b"), ("b", None), ("c", "a"))


def _random_outcomes(
    n: int, seed: int, *, classes: str = "abcd", p_correct: float = 0.6, p_invalid: float = 0.1
) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    result: list[Outcome] = []
    for _ in range(n):
        gold = str(rng.choice(list(classes)))
        roll = rng.random()
        if roll < p_invalid:
            predicted: str | None = None
        elif roll < p_invalid + p_correct:
            predicted = gold
        else:
            predicted = str(rng.choice(list(classes + "xy")))
        result.append(Outcome(gold, predicted))
    return result


def _sklearn_macro_f1(outcomes: list[Outcome]) -> float:
    gold = [o.gold for o in outcomes]
    pred = [o.predicted if o.predicted is not None else INVALID for o in outcomes]
    classes = sorted(set(gold) | {p for p in pred if p != INVALID})
    return float(f1_score(gold, pred, labels=classes, average="macro", zero_division=0.0))


def _width(interval: tuple[float, float]) -> float:
    return interval[1] - interval[0]


# --------------------------------------------------------------------------- point scores


def test_accuracy_by_hand() -> None:
    assert accuracy(HAND) == pytest.approx(2 / 5)
    assert accuracy(_outcomes(("a", "a"))) == 1.0
    assert accuracy(_outcomes(("a", None))) == 0.0
    assert math.isnan(accuracy([]))


def test_macro_f1_by_hand() -> None:
    # a: tp 1, gold 2, pred 2 -> 0.5; b: tp 1, gold 2, pred 2 -> 0.5; c: tp 0 -> 0.
    assert macro_f1(HAND) == pytest.approx(1 / 3)


def test_invalid_is_wrong_but_not_a_class() -> None:
    outcomes = _outcomes(("a", "a"), ("a", None), ("b", "b"), ("b", "b"))
    # a: tp 1, gold 2, pred 1 -> 2/3; b: 1. An "<invalid>" class would add a 0 and give 5/9.
    assert macro_f1(outcomes) == pytest.approx((2 / 3 + 1) / 2)
    assert accuracy(outcomes) == pytest.approx(3 / 4)


def test_a_predicted_class_never_gold_counts_in_macro_f1() -> None:
    # a: tp 1, gold 2, pred 1 -> 2/3; d (only predicted): 0.
    assert macro_f1(_outcomes(("a", "a"), ("a", "d"))) == pytest.approx(1 / 3)


def test_perfect_and_all_invalid() -> None:
    assert macro_f1(_outcomes(("a", "a"), ("b", "b"))) == 1.0
    assert macro_f1(_outcomes(("a", None), ("b", None))) == 0.0
    assert math.isnan(macro_f1([]))


@pytest.mark.parametrize("seed", range(12))
def test_macro_f1_matches_sklearn_on_random_data(seed: int) -> None:
    n = 5 + seed * 17
    outcomes = _random_outcomes(n, seed, p_invalid=0.05 * (seed % 4))
    assert macro_f1(outcomes) == pytest.approx(_sklearn_macro_f1(outcomes), abs=1e-12)


def test_macro_f1_matches_sklearn_with_many_invalid() -> None:
    outcomes = _random_outcomes(80, 99, p_correct=0.3, p_invalid=0.5)
    assert macro_f1(outcomes) == pytest.approx(_sklearn_macro_f1(outcomes), abs=1e-12)


def test_per_class_recall_by_hand() -> None:
    assert per_class_recall(HAND) == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert list(per_class_recall(_outcomes(("z", "z"), ("a", "z")))) == ["a", "z"]
    assert per_class_recall([]) == {}


def test_confusion_pairs_are_ordered_by_count_then_name() -> None:
    outcomes = _outcomes(
        ("b", "a"),
        ("b", "a"),
        ("b", "a"),
        ("a", None),
        ("a", None),
        ("c", "a"),
        ("c", "a"),
        ("a", "c"),
        ("a", "a"),
        ("a", "a"),
        ("a", "a"),
        ("a", "a"),  # correct: never a confusion
    )
    assert confusion_pairs(outcomes) == [("b", "a", 3), ("a", INVALID, 2), ("c", "a", 2), ("a", "c", 1)]
    assert confusion_pairs(outcomes, top=2) == [("b", "a", 3), ("a", INVALID, 2)]
    assert confusion_pairs(_outcomes(("a", "a"))) == []


# --------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_contains_the_point_estimate(seed: int) -> None:
    outcomes = _random_outcomes(150, seed)
    (lo, hi), (f_lo, f_hi) = bootstrap_interval(outcomes, resamples=500, seed=seed)
    assert lo <= accuracy(outcomes) <= hi
    assert f_lo <= macro_f1(outcomes) <= f_hi
    assert 0.0 <= lo < hi <= 1.0 and 0.0 <= f_lo < f_hi <= 1.0


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    outcomes = _random_outcomes(60, 5)
    first = bootstrap_interval(outcomes, resamples=300, seed=11)
    assert bootstrap_interval(outcomes, resamples=300, seed=11) == first
    assert bootstrap_interval(outcomes, resamples=300, seed=12) != first


def test_bootstrap_narrows_as_n_grows() -> None:
    small = _random_outcomes(30, 3)
    large = _random_outcomes(3000, 3)
    (acc_s, f1_s) = bootstrap_interval(small, resamples=200, seed=0)
    (acc_l, f1_l) = bootstrap_interval(large, resamples=200, seed=0)
    assert _width(acc_l) < _width(acc_s) / 3
    assert _width(f1_l) < _width(f1_s) / 3


def test_bootstrap_of_no_outcomes_is_nan() -> None:
    (lo, hi), (f_lo, f_hi) = bootstrap_interval([])
    assert all(math.isnan(v) for v in (lo, hi, f_lo, f_hi))


def test_bootstrap_of_a_constant_outcome_is_a_point() -> None:
    outcomes = _outcomes(*[("a", "a")] * 10)
    assert bootstrap_interval(outcomes, resamples=50) == ((1.0, 1.0), (1.0, 1.0))


def test_score_bundles_everything() -> None:
    s = score(HAND, seed=3)
    assert s.n == 5
    assert s.accuracy == pytest.approx(0.4) and s.macro_f1 == pytest.approx(1 / 3)
    assert ((s.ci_low, s.ci_high), (s.f1_ci_low, s.f1_ci_high)) == bootstrap_interval(HAND, seed=3)
    assert s.per_class_recall == per_class_recall(HAND)
    assert s.confusions == confusion_pairs(HAND)


def test_score_of_nothing() -> None:
    s = score([])
    assert s.n == 0
    assert all(math.isnan(v) for v in (s.accuracy, s.macro_f1, s.ci_low, s.ci_high))
    assert s.per_class_recall == {} and s.confusions == []
