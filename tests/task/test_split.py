"""The stratified, seeded split of one labelled file, and its survey: every class in every
split, the same split on every call, sizes as fractions or counts, and clear errors for classes
or files too small to split."""

from __future__ import annotations

from collections import Counter

import pytest

from promptopt.errors import DataError
from promptopt.task.spec import SplitSpec
from promptopt.task.split import plan_split, small_classes
from promptopt.task.survey import survey

LABELS = ["a"] * 50 + ["b"] * 30 + ["c"] * 20


def test_every_class_lands_in_every_split_in_proportion() -> None:
    plan = plan_split(LABELS, SplitSpec(dev=0.2, test=0.2, seed=0), where="t")
    assert sorted(plan.train + plan.dev + plan.test) == list(range(len(LABELS)))
    for split, share in (("dev", 0.2), ("test", 0.2), ("train", 0.6)):
        counts = Counter(LABELS[i] for i in plan.indices(split))
        assert counts == {k: round(n * share) for k, n in Counter(LABELS).items()}, split


def test_the_split_is_seeded_and_the_seed_matters() -> None:
    first = plan_split(LABELS, SplitSpec(seed=3), where="t")
    assert plan_split(LABELS, SplitSpec(seed=3), where="t") == first
    assert plan_split(LABELS, SplitSpec(seed=4), where="t") != first


def test_counts_take_that_many_examples() -> None:
    plan = plan_split(LABELS, SplitSpec(dev=10, test=20, seed=0), where="t")
    assert (len(plan.dev), len(plan.test)) == (10, 20)


def test_a_class_too_small_for_three_splits_is_named() -> None:
    labels = [*LABELS, "rare", "rare"]
    assert small_classes(labels) == {"rare": 2}
    with pytest.raises(DataError) as info:
        plan_split(labels, SplitSpec(), where="tickets.csv")
    assert "'rare' (2)" in info.value.what and "tickets.csv" in info.value.what
    assert "merge" in (info.value.hint or "")


def test_dev_and_test_that_take_everything_are_refused() -> None:
    with pytest.raises(DataError) as info:
        plan_split(LABELS, SplitSpec(dev=60, test=40), where="t")
    assert "dev (60) and test (40)" in info.value.what


def test_a_small_class_keeps_one_example_in_each_split() -> None:
    labels = ["x"] * 40 + ["y"] * 3
    plan = plan_split(labels, SplitSpec(dev=0.1, test=0.1), where="t")
    for split in ("train", "dev", "test"):
        assert [labels[i] for i in plan.indices(split)].count("y") == 1, split


def test_the_survey_counts_repeats_conflicts_and_small_classes() -> None:
    texts = ["Reset my password", "reset  my password", "VPN down", "VPN down", "printer", "new laptop"]
    labels = ["access", "access", "network", "hardware", "hardware", "hardware"]
    found = survey(texts, labels)
    assert found.rows == 6 and found.classes[0] == ("hardware", 3)
    assert (found.duplicates, found.conflicts) == (2, 1)
    assert found.small == ("access", "network")
    joined = " ".join(found.warnings)
    assert "repeat an earlier text" in joined and "more than one label" in joined and "fewer than 3" in joined
    assert found.length_chars[2] == len("reset  my password")


def test_a_clean_survey_warns_only_about_size() -> None:
    found = survey([f"text {i}" for i in range(600)], ["a", "b"] * 300)
    assert found.warnings == ()
