"""The search space: which value each component of a candidate can take, as primitive values
that a sampler (optuna) can handle, and how a point of the space becomes a :class:`Candidate`.

A :class:`Point` holds one primitive value per component; what a sampler (and events.jsonl)
sees is :meth:`Point.params`::

    {"instruction": 0..slots-1, "labels": "names"|"described",
     "demos": "none"|"fixed"|"stratified"|"retrieved", "format": "label"|"code", "k": int,
     "demo_set": 0..sets-1, "fixed_layout": "turns"|"compact",
     "retriever": "word"|"char"|"minilm", "layout": "turns"|"compact"|"labels"}

``k`` is only present when ``demos`` is not ``none``; ``demo_set`` and ``fixed_layout`` only
for fixed/stratified; ``retriever`` and ``layout`` only for retrieved (a sampler needs one
set of choices per name, and the ``labels`` layout applies to retrieved demos only).
Instruction slot 0 is the seed instruction; the other slots are written by the LLM proposers
the first time the sampler picks them, and kept (the run store records each slot's text), so
the same point always maps to the same candidate within a run.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import random_demo_ids, stratified_demo_ids
from promptopt.task.spec import Example


@dataclass(frozen=True)
class Point:
    """A point of the search space. Components that do not apply are None (and absent from
    :meth:`params`)."""

    instruction: int
    labels: str
    demos: str
    format: str
    k: int | None = None
    demo_set: int | None = None
    fixed_layout: str | None = None
    retriever: str | None = None
    layout: str | None = None

    def params(self) -> dict[str, Any]:
        """The primitive values that apply, in declaration order (what optuna and the run's
        ``trial`` events hold)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @staticmethod
    def from_params(params: Mapping[str, Any]) -> Point:
        """Raises ValueError for an unknown or missing component."""
        unknown = set(params) - {f.name for f in fields(Point)}
        if unknown:
            raise ValueError(f"unknown search-space components {sorted(unknown)} in {dict(params)}")
        try:
            return Point(**params)
        except TypeError as exc:
            raise ValueError(f"incomplete search-space point {dict(params)}: {exc}") from exc


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
        for name in (
            "label_styles",
            "demo_strategies",
            "k_choices",
            "output_formats",
            "retrievers",
            "layouts",
        ):
            if not getattr(self, name):
                raise ValueError(f"search space: {name} must not be empty")
        if any(k < 1 for k in self.k_choices):
            raise ValueError(f"k choices must be >= 1 (seen: {self.k_choices})")

    def to_json(self) -> dict[str, Any]:
        return {
            "instruction_slots": self.instruction_slots,
            "label_styles": list(self.label_styles),
            "demo_strategies": list(self.demo_strategies),
            "k_choices": list(self.k_choices),
            "demo_sets": self.demo_sets,
            "output_formats": list(self.output_formats),
            "retrievers": list(self.retrievers),
            "layouts": list(self.layouts),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> SearchSpace:
        return SearchSpace(
            instruction_slots=int(data["instruction_slots"]),
            label_styles=tuple(data["label_styles"]),
            demo_strategies=tuple(data["demo_strategies"]),
            k_choices=tuple(int(k) for k in data["k_choices"]),
            demo_sets=int(data["demo_sets"]),
            output_formats=tuple(data["output_formats"]),
            retrievers=tuple(data["retrievers"]),
            layouts=tuple(data["layouts"]),
        )

    @property
    def fixed_layouts(self) -> tuple[str, ...]:
        return tuple(x for x in self.layouts if x != "labels") or ("compact",)

    def contains(self, point: Point) -> bool:
        """Whether ``point`` is a valid point of this space (used for enqueued seeds)."""
        ok = (
            0 <= point.instruction < self.instruction_slots
            and point.labels in self.label_styles
            and point.demos in self.demo_strategies
            and point.format in self.output_formats
        )
        extras = (point.k, point.demo_set, point.retriever, point.layout, point.fixed_layout)
        if not ok or point.demos == "none":
            return ok and all(x is None for x in extras)
        if point.k not in self.k_choices:
            return False
        if point.demos == "retrieved":
            return (
                point.demo_set is None
                and point.fixed_layout is None
                and point.retriever in self.retrievers
                and point.layout in self.layouts
            )
        return (
            point.demo_set is not None
            and 0 <= point.demo_set < self.demo_sets
            and point.fixed_layout in self.fixed_layouts
            and point.retriever is None
            and point.layout is None
        )


def point_of(candidate: Candidate, *, slot: int, demo_set: int = 0) -> Point:
    """The point that describes ``candidate`` (its instruction being in ``slot``)."""
    strategy = candidate.demo_strategy
    fixed = strategy in ("fixed", "stratified")
    retrieved = strategy == "retrieved"
    return Point(
        instruction=slot,
        labels=candidate.label_style,
        demos=strategy,
        format=candidate.output_format,
        k=candidate.n_demos if strategy != "none" else None,
        demo_set=demo_set if fixed else None,
        fixed_layout=candidate.demo_layout if fixed else None,
        retriever=candidate.retriever if retrieved else None,
        layout=candidate.demo_layout if retrieved else None,
    )


def demo_ids_for(
    train: Sequence[Example], strategy: str, k: int, demo_set: int, seed: int
) -> tuple[str, ...]:
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


def build(point: Point, materials: Materials, *, parent: Candidate | None) -> Candidate:
    """The candidate at ``point``. Raises KeyError when its instruction slot is not written."""
    described = point.labels == "described" and bool(materials.descriptions)
    k = point.k or 0
    ids: tuple[str, ...] = ()
    layout = "turns"
    if point.demos in ("fixed", "stratified"):
        ids = demo_ids_for(materials.train, point.demos, k, point.demo_set or 0, materials.seed)
        layout = str(point.fixed_layout)
    if point.demos == "retrieved":
        layout = str(point.layout)
    return Candidate(
        instruction=materials.instructions[point.instruction],
        label_style="described" if described else "names",
        label_descriptions=materials.descriptions if described else (),
        demo_strategy=point.demos,  # type: ignore[arg-type]
        demo_ids=ids,
        k=k if point.demos == "retrieved" else 0,
        output_format=point.format,  # type: ignore[arg-type]
        retriever=point.retriever or "word",  # type: ignore[arg-type]
        demo_layout=layout,  # type: ignore[arg-type]
        parents=(parent.id,) if parent is not None else (),
        operator="tpe",
    )
