"""The search space: a point maps to a valid candidate and back, and fixed demo sets are
reproducible."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from promptopt.search.space import Materials, Point, SearchSpace, build, demo_ids_for, point_of
from promptopt.task.spec import Example

LABELS = ("a", "b", "c")
TRAIN = tuple(Example(f"train-{i}", f"text {i}", LABELS[i % 3]) for i in range(30))
MATERIALS = Materials(
    instructions={0: "seed", 1: "other"},
    descriptions=(("a", "x"), ("b", "y"), ("c", "z")),
    train=TRAIN,
    seed=0,
)
SPACE = SearchSpace(instruction_slots=2)


def test_demo_sets_are_reproducible_and_differ_by_set() -> None:
    assert demo_ids_for(TRAIN, "stratified", 6, 0, 0) == demo_ids_for(TRAIN, "stratified", 6, 0, 0)
    assert demo_ids_for(TRAIN, "stratified", 6, 0, 0) != demo_ids_for(TRAIN, "stratified", 6, 1, 0)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    labels=st.sampled_from(SPACE.label_styles),
    demos=st.sampled_from(SPACE.demo_strategies),
    k=st.sampled_from(SPACE.k_choices),
    retriever=st.sampled_from(SPACE.retrievers),
    layout=st.sampled_from(SPACE.layouts),
    demo_set=st.integers(0, SPACE.demo_sets - 1),
)
def test_point_of_inverts_build(
    labels: str, demos: str, k: int, retriever: str, layout: str, demo_set: int
) -> None:
    point = Point(instruction=1, labels=labels, demos=demos, format="label")
    if demos != "none":
        point = replace(point, k=k)
    if demos == "retrieved":
        point = replace(point, retriever=retriever, layout=layout)
    if demos in ("fixed", "stratified"):
        point = replace(point, demo_set=demo_set, fixed_layout=layout if layout != "labels" else "compact")
    assert SPACE.contains(point)
    candidate = build(point, MATERIALS, parent=None)
    assert point_of(candidate, slot=1, demo_set=demo_set) == point
