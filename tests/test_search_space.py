"""The search space and the TPE strategy: points map to valid candidates, the same history
gives the same proposals (resume), seeds are evaluated first, and only primitives reach optuna."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptopt.search.space import Materials, SearchSpace, build, demo_ids_for, point_of
from promptopt.search.tpe import TPESearch
from promptopt.task.spec import Example

LABELS = ("a", "b", "c")
TRAIN = tuple(Example(f"train-{i}", f"text {i}", LABELS[i % 3]) for i in range(30))
MATERIALS = Materials(instructions={0: "seed", 1: "other"}, descriptions=(("a", "x"), ("b", "y"), ("c", "z")),
                      train=TRAIN, seed=0)
SPACE = SearchSpace(instruction_slots=2)


def _points(space: SearchSpace, path: Path, n: int, seed: int = 0) -> list[dict[str, object]]:
    search = TPESearch(space, path, seed=seed, startup_trials=3)
    points = []
    for i in range(n):
        proposal = search.ask()
        points.append(proposal.point)
        search.tell(proposal.number, float(i % 3) / 3)
    return points


def test_every_sampled_point_is_in_the_space_and_builds_a_valid_candidate(tmp_path: Path) -> None:
    for point in _points(SPACE, tmp_path / "s.sqlite3", 25):
        assert SPACE.contains(point), point
        candidate = build(point, MATERIALS, parent=None)
        assert candidate.demo_strategy == point["demos"]
        assert candidate.n_demos == point.get("k", 0)


def test_same_seed_same_history_same_points(tmp_path: Path) -> None:
    first = _points(SPACE, tmp_path / "a.sqlite3", 12)
    second = _points(SPACE, tmp_path / "b.sqlite3", 12)
    other = _points(SPACE, tmp_path / "c.sqlite3", 12, seed=1)
    assert first == second and first != other


def test_a_reopened_study_continues_like_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = _points(SPACE, tmp_path / "a.sqlite3", 10)
    _points(SPACE, tmp_path / "b.sqlite3", 6)
    search = TPESearch(SPACE, tmp_path / "b.sqlite3", seed=0, startup_trials=3)  # a new process
    rest = []
    for i in range(6, 10):
        proposal = search.ask()
        rest.append(proposal.point)
        search.tell(proposal.number, float(i % 3) / 3)
    assert rest == straight[6:]


def test_enqueued_seeds_come_first_and_unfinished_trials_are_pending(tmp_path: Path) -> None:
    search = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0)
    seeds = [{"instruction": 0, "labels": "names", "demos": "none", "format": "label"},
             {"instruction": 0, "labels": "names", "demos": "retrieved", "k": 8, "retriever": "word",
              "layout": "turns", "format": "label"}]
    search.enqueue(seeds)
    first = search.ask()
    assert first.point == seeds[0]
    assert [p.number for p in TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0).pending()] == [first.number]
    search.tell(first.number, 0.5)
    assert search.ask().point == seeds[1]


def test_a_seed_outside_the_space_is_refused(tmp_path: Path) -> None:
    search = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0)
    with pytest.raises(ValueError, match="outside the search space"):
        search.enqueue([{"instruction": 5, "labels": "names", "demos": "none", "format": "label"}])


def test_demo_sets_are_reproducible_and_differ_by_set() -> None:
    assert demo_ids_for(TRAIN, "stratified", 6, 0, 0) == demo_ids_for(TRAIN, "stratified", 6, 0, 0)
    assert demo_ids_for(TRAIN, "stratified", 6, 0, 0) != demo_ids_for(TRAIN, "stratified", 6, 1, 0)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(labels=st.sampled_from(SPACE.label_styles), demos=st.sampled_from(SPACE.demo_strategies),
       k=st.sampled_from(SPACE.k_choices), retriever=st.sampled_from(SPACE.retrievers),
       layout=st.sampled_from(SPACE.layouts), demo_set=st.integers(0, SPACE.demo_sets - 1))
def test_point_of_inverts_build(labels: str, demos: str, k: int, retriever: str, layout: str, demo_set: int) -> None:
    point: dict[str, object] = {"instruction": 1, "labels": labels, "demos": demos, "format": "label"}
    if demos != "none":
        point["k"] = k
    if demos == "retrieved":
        point.update(retriever=retriever, layout=layout)
    if demos in ("fixed", "stratified"):
        point.update(demo_set=demo_set, fixed_layout=layout if layout != "labels" else "compact")
    assert SPACE.contains(point)
    candidate = build(point, MATERIALS, parent=None)
    assert point_of(candidate, slot=1, demo_set=demo_set) == point
