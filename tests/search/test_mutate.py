"""Structural mutators: deterministic for a seed, valid children with lineage, and applicable
only where they make sense."""

from __future__ import annotations

import random

import pytest

from promptopt.prompt.candidate import Candidate
from promptopt.search.mutate import LLM_OPERATORS, REGISTRY, MutationContext
from promptopt.task.spec import Example

LABELS = ("a", "b", "c")
TRAIN = tuple(Example(f"train-{i}", f"text {i}", LABELS[i % 3]) for i in range(30))
CTX = MutationContext(train=TRAIN, labels=LABELS, descriptions=(("a", "x"), ("b", "y"), ("c", "z")))
PARENTS = [
    Candidate(instruction="go"),
    Candidate(instruction="go", demo_strategy="fixed", demo_ids=("train-1", "train-2", "train-3")),
    Candidate(instruction="go", demo_strategy="stratified", demo_ids=("train-0", "train-4")),
    Candidate(
        instruction="go",
        demo_strategy="retrieved",
        k=4,
        label_style="described",
        label_descriptions=CTX.descriptions,
        output_format="code",
    ),
]
STRUCTURAL = [n for n in REGISTRY if n != "crossover" and n not in LLM_OPERATORS]


@pytest.mark.parametrize("name", STRUCTURAL)
@pytest.mark.parametrize("parent", PARENTS, ids=lambda c: c.demo_strategy)
def test_children_are_new_valid_and_deterministic(name: str, parent: Candidate) -> None:
    first = REGISTRY[name](parent, CTX, rng=random.Random(3))
    second = REGISTRY[name](parent, CTX, rng=random.Random(3))
    assert first == second
    if first is not None:
        assert first.id != parent.id
        assert first.parents == (parent.id,) and first.operator == name
        assert set(first.demo_ids) <= {e.id for e in TRAIN}


def test_not_applicable_returns_none() -> None:
    zero_shot = PARENTS[0]
    assert REGISTRY["resample_demos"](zero_shot, CTX, rng=random.Random(0)) is None
    assert REGISTRY["reorder_demos"](zero_shot, CTX, rng=random.Random(0)) is None
    assert REGISTRY["change_k"](zero_shot, CTX, rng=random.Random(0)) is None
    assert REGISTRY["restratify"](PARENTS[2], CTX, rng=random.Random(0)) is None


def test_switch_to_retrieved_keeps_the_demo_count() -> None:
    rng = random.Random(0)
    children = {REGISTRY["switch_demo_strategy"](PARENTS[1], CTX, rng=rng) for _ in range(20)}
    retrieved = [c for c in children if c is not None and c.demo_strategy == "retrieved"]
    assert retrieved and all(c.k == 3 for c in retrieved)


def test_crossover_mixes_whole_groups_and_records_both_parents() -> None:
    a, b = PARENTS[1], PARENTS[3]
    ctx = MutationContext(train=TRAIN, labels=LABELS, other=b)
    children = [REGISTRY["crossover"](a, ctx, rng=random.Random(s)) for s in range(30)]
    real = [c for c in children if c is not None]
    assert real and all(c.parents == (a.id, b.id) for c in real)
    for child in real:  # dependent fields travel together
        assert (child.demo_strategy, child.demo_ids, child.k) in {
            (a.demo_strategy, a.demo_ids, a.k),
            (b.demo_strategy, b.demo_ids, b.k),
        }
    assert REGISTRY["crossover"](a, CTX, rng=random.Random(0)) is None  # no second parent
