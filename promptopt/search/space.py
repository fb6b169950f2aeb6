"""The search space: which value each component of a candidate can take, as primitive values
that a sampler (optuna) can handle, and how a point of the space becomes a :class:`Candidate`.

A point is a dict of primitives::

    {"instruction": 0..slots-1, "labels": "names"|"described",
     "demos": "none"|"fixed"|"stratified"|"retrieved", "k": int, "demo_set": 0..sets-1,
     "retriever": "word"|"char"|"minilm", "layout": "turns"|"compact"|"labels",
     "fixed_layout": "turns"|"compact", "format": "label"|"code"}

``k`` is only present when ``demos`` is not ``none``; ``demo_set`` and ``fixed_layout`` only
for fixed/stratified; ``retriever`` and ``layout`` only for retrieved (a sampler needs one
set of choices per name, and ``labels`` applies to retrieved demos only).
Instruction slot 0 is the seed instruction; the other slots are written by the LLM proposers
the first time the sampler picks them, and kept (the run store records each slot's text), so
the same point always maps to the same candidate within a run.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import random_demo_ids, stratified_demo_ids
from promptopt.task.spec import Example

Point = dict[str, Any]


@dataclass(frozen=True)
class Proposal:
    """A trial number and the point it asks to evaluate; ``queued`` when the point was
    enqueued (a seed or a local move) rather than sampled."""

    number: int
    point: Point
    queued: bool = False


@dataclass(frozen=True)
class SearchSpace:
    """The choices per component. Every tuple must be non-empty; ``instruction_slots >= 1``."""

    instruction_slots: int = 5
    label_styles: tuple[str, ...] = ("names", "described")
    demo_strategies: tuple[str, ...] = ("none", "stratified", "retrieved")
    k_choices: tuple[int, ...] = (4, 8, 12)
    demo_sets: int = 2
    output_formats: tuple[str, ...] = ("label",)
    retrievers: tuple[str, ...] = ("minilm", "char", "word")
    layouts: tuple[str, ...] = ("compact", "turns", "labels")

    def __post_init__(self) -> None:
        if self.instruction_slots < 1 or self.demo_sets < 1:
            raise ValueError("instruction_slots and demo_sets must be at least 1")
        for name in ("label_styles", "demo_strategies", "k_choices", "output_formats", "retrievers", "layouts"):
            if not getattr(self, name):
                raise ValueError(f"search space: {name} must not be empty")
        if any(k < 1 for k in self.k_choices):
            raise ValueError(f"k choices must be >= 1 (seen: {self.k_choices})")

    def to_json(self) -> dict[str, Any]:
        return {"instruction_slots": self.instruction_slots, "label_styles": list(self.label_styles),
                "demo_strategies": list(self.demo_strategies), "k_choices": list(self.k_choices),
                "demo_sets": self.demo_sets, "output_formats": list(self.output_formats),
                "retrievers": list(self.retrievers), "layouts": list(self.layouts)}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> SearchSpace:
        return SearchSpace(
            instruction_slots=int(data["instruction_slots"]), label_styles=tuple(data["label_styles"]),
            demo_strategies=tuple(data["demo_strategies"]), k_choices=tuple(int(k) for k in data["k_choices"]),
            demo_sets=int(data["demo_sets"]), output_formats=tuple(data["output_formats"]),
            retrievers=tuple(data["retrievers"]), layouts=tuple(data["layouts"]))

    @property
    def fixed_layouts(self) -> tuple[str, ...]:
        return tuple(x for x in self.layouts if x != "labels") or ("compact",)

    def contains(self, point: Mapping[str, Any]) -> bool:
        """Whether ``point`` is a valid point of this space (used for enqueued seeds)."""
        demos = point.get("demos")
        ok = (0 <= int(point.get("instruction", -1)) < self.instruction_slots
              and point.get("labels") in self.label_styles and demos in self.demo_strategies
              and point.get("format") in self.output_formats)
        if not ok or demos == "none":
            return ok and not {"k", "demo_set", "retriever", "layout", "fixed_layout"} & point.keys()
        if point.get("k") not in self.k_choices:
            return False
        if demos == "retrieved":
            return ("demo_set" not in point and point.get("retriever") in self.retrievers
                    and point.get("layout") in self.layouts)
        return (0 <= int(point.get("demo_set", -1)) < self.demo_sets
                and point.get("fixed_layout") in self.fixed_layouts)


def point_of(candidate: Candidate, *, slot: int, demo_set: int = 0) -> Point:
    """The point that describes ``candidate`` (its instruction being in ``slot``)."""
    point: Point = {"instruction": slot, "labels": candidate.label_style,
                    "demos": candidate.demo_strategy, "format": candidate.output_format}
    if candidate.demo_strategy != "none":
        point["k"] = candidate.n_demos
    if candidate.demo_strategy in ("fixed", "stratified"):
        point.update(demo_set=demo_set, fixed_layout=candidate.demo_layout)
    if candidate.demo_strategy == "retrieved":
        point.update(retriever=candidate.retriever, layout=candidate.demo_layout)
    return point


def demo_ids_for(train: Sequence[Example], strategy: str, k: int, demo_set: int, seed: int) -> tuple[str, ...]:
    """The demo ids of set ``demo_set`` of size ``k``: a draw seeded by (seed, strategy, k, set),
    so it is the same in every process and after a resume."""
    key = f"{seed}:{strategy}:{k}:{demo_set}".encode()
    rng = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
    pick = stratified_demo_ids if strategy == "stratified" else random_demo_ids
    return pick(train, k, rng)


@dataclass(frozen=True)
class Materials:
    """What a point needs to become a candidate: instruction texts by slot (a missing slot is
    not written yet), label descriptions, the train pool and the run seed."""

    instructions: Mapping[int, str]
    descriptions: tuple[tuple[str, str], ...]
    train: tuple[Example, ...]
    seed: int


def build(point: Mapping[str, Any], materials: Materials, *, parent: Candidate | None) -> Candidate:
    """The candidate at ``point``. Raises KeyError when its instruction slot is not written."""
    described = point["labels"] == "described" and bool(materials.descriptions)
    demos = str(point["demos"])
    k = int(point.get("k", 0))
    ids: tuple[str, ...] = ()
    layout = "turns"
    if demos in ("fixed", "stratified"):
        ids = demo_ids_for(materials.train, demos, k, int(point["demo_set"]), materials.seed)
        layout = str(point["fixed_layout"])
    if demos == "retrieved":
        layout = str(point["layout"])
    return Candidate(
        instruction=materials.instructions[int(point["instruction"])],
        label_style="described" if described else "names",
        label_descriptions=materials.descriptions if described else (),
        demo_strategy=demos,  # type: ignore[arg-type]
        demo_ids=ids, k=k if demos == "retrieved" else 0,
        output_format=point["format"],
        retriever=point.get("retriever", "word"), demo_layout=layout,  # type: ignore[arg-type]
        parents=(parent.id,) if parent is not None else (), operator="tpe",
    )
