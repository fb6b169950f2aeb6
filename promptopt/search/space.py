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

The components that keep long inputs and label lists affordable are sampled only when the
space offers more than their default (the composition root offers them from the data, see
:func:`promptopt.compose.fit_space`): ``cut`` ("all", "head-128", "ends-256": the input cut
to about that many tokens), ``demo_cut`` (0 or tokens per demo; with demos), ``pick``
("nearest"|"per_label") and ``scope`` ("all"|"neighbours", label output), both retrieved only.
Instruction slot 0 is the seed instruction; the other slots are written by the LLM proposers
the first time the sampler picks them, and kept (the run store records each slot's text), so
the same point always maps to the same candidate within a run.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
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
    cut: str | None = None
    demo_cut: int | None = None
    pick: str | None = None
    scope: str | None = None

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
    k_choices: tuple[int, ...] = (4, 10, 16)
    demo_sets: int = 2
    output_formats: tuple[str, ...] = ("label",)
    retrievers: tuple[str, ...] = ("minilm", "char", "word")
    layouts: tuple[str, ...] = ("compact", "turns", "labels")
    input_cuts: tuple[str, ...] = ("all",)
    demo_cuts: tuple[int, ...] = (0,)
    picks: tuple[str, ...] = ("nearest",)
    scopes: tuple[str, ...] = ("all",)

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
            "input_cuts",
            "demo_cuts",
            "picks",
            "scopes",
        ):
            if not getattr(self, name):
                raise ValueError(f"search space: {name} must not be empty")
        if any(k < 1 for k in self.k_choices):
            raise ValueError(f"k choices must be >= 1 (seen: {self.k_choices})")
        for value in self.input_cuts:
            parse_cut(value)
        if any(t < 0 for t in self.demo_cuts):
            raise ValueError(f"demo cuts must be >= 0 tokens (seen: {self.demo_cuts})")

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
            "input_cuts": list(self.input_cuts),
            "demo_cuts": list(self.demo_cuts),
            "picks": list(self.picks),
            "scopes": list(self.scopes),
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
            # runs made before these components existed searched none of them
            input_cuts=tuple(data.get("input_cuts", ("all",))),
            demo_cuts=tuple(int(t) for t in data.get("demo_cuts", (0,))),
            picks=tuple(data.get("picks", ("nearest",))),
            scopes=tuple(data.get("scopes", ("all",))),
        )

    def samples(self, name: str) -> bool:
        """Whether the sampler chooses component ``name`` (cut, demo_cut, pick, scope): only
        when the space offers more than one value for it."""
        return len(getattr(self, SHRINK_CHOICES[name])) > 1

    @property
    def fixed_layouts(self) -> tuple[str, ...]:
        return tuple(x for x in self.layouts if x != "labels") or ("compact",)

    def contains(self, point: Point) -> bool:
        """Whether ``point`` is a valid point of this space (used for enqueued seeds)."""
        return self._contains_core(point) and self._contains_shrink(point)

    def _contains_shrink(self, point: Point) -> bool:
        """Each of cut, demo_cut, pick and scope is set exactly when the space samples it and
        it applies to the point, and then to one of the space's values."""
        for name, field_name in SHRINK_CHOICES.items():
            value = getattr(point, name)
            wanted = self.samples(name) and applies(name, point)
            if (value is not None) != wanted:
                return False
            if value is not None and value not in getattr(self, field_name):
                return False
        return True

    def _contains_core(self, point: Point) -> bool:
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


SHRINK_CHOICES = {"cut": "input_cuts", "demo_cut": "demo_cuts", "pick": "picks", "scope": "scopes"}


def applies(name: str, point: Point) -> bool:
    """Whether shrink component ``name`` applies to a point with these demos and format."""
    if name == "cut":
        return True
    if name == "demo_cut":
        return point.demos != "none"
    if name == "scope":
        return point.demos == "retrieved" and point.format == "label"
    return point.demos == "retrieved"


def parse_cut(value: str) -> tuple[int, str]:
    """``"all"`` -> (0, "head"); ``"head-128"`` / ``"ends-256"`` -> (tokens, mode)."""
    if value == "all":
        return 0, "head"
    mode, _, tokens = value.partition("-")
    if mode not in ("head", "ends") or not tokens.isdigit() or int(tokens) < 1:
        raise ValueError(f"an input cut is 'all', 'head-N' or 'ends-N' with N >= 1 tokens (seen: {value!r})")
    return int(tokens), mode


def cut_name(tokens: int, mode: str) -> str:
    return "all" if tokens == 0 else f"{mode}-{tokens}"


def with_shrink(point: Point, candidate: Candidate, space: SearchSpace) -> Point:
    """``point`` with the shrink components the space samples, read from ``candidate``."""
    values: dict[str, object] = {
        "cut": cut_name(candidate.input_tokens, candidate.input_cut),
        "demo_cut": candidate.demo_tokens,
        "pick": candidate.demo_pick,
        "scope": candidate.label_scope,
    }
    chosen = {n: v for n, v in values.items() if space.samples(n) and applies(n, point)}
    return replace(point, **chosen)  # type: ignore[arg-type]


def point_of(
    candidate: Candidate, *, slot: int, demo_set: int = 0, space: SearchSpace | None = None
) -> Point:
    """The point that describes ``candidate`` (its instruction being in ``slot``); with
    ``space``, also the shrink components it samples."""
    point = _core_point(candidate, slot=slot, demo_set=demo_set)
    return point if space is None else with_shrink(point, candidate, space)


def _core_point(candidate: Candidate, *, slot: int, demo_set: int) -> Point:
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
    input_tokens, input_cut = parse_cut(point.cut or "all")
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
        input_tokens=input_tokens,
        input_cut=input_cut,  # type: ignore[arg-type]
        demo_tokens=point.demo_cut or 0,
        demo_pick=point.pick or "nearest",  # type: ignore[arg-type]
        label_scope=point.scope or "all",  # type: ignore[arg-type]
        parents=(parent.id,) if parent is not None else (),
        operator="tpe",
    )


LONG_INPUT_TOKENS = 128  # a task whose longest tenth of inputs is longer searches cuts


def fitted(space: SearchSpace, train: Sequence[Example]) -> SearchSpace:
    """The space with the shrink components the task needs, where the space left them at
    their default: the label list narrowed to the neighbours' labels (with retrieval), and
    input and per-demo cuts (when the 90th percentile of train inputs is over LONG_INPUT_TOKENS,
    at 4 characters a token: it_service_tickets 153, cfpb_complaints 405, banking77 27).
    Measured one at a time against the nearest-neighbours prompt (``benchmarks/components.py``,
    paired intervals): the narrowed list gained 16 dev points on cfpb_complaints (5 labels) and
    kept banking77 within a point at a third of the tokens; one demo per label lost 22 points
    on banking77 and 11 on it_service_tickets, so it is not offered (a space that lists it in
    ``picks`` still searches it)."""
    retrieved = "retrieved" in space.demo_strategies
    lengths = sorted(len(e.text) // 4 for e in train)
    long_tail = lengths[int(len(lengths) * 0.9)] if lengths else 0
    changes: dict[str, Any] = {}
    if retrieved and space.scopes == ("all",):
        changes["scopes"] = ("all", "neighbours")
    if long_tail >= LONG_INPUT_TOKENS and space.input_cuts == ("all",):
        changes["input_cuts"] = ("all", "head-128", "ends-256")
    if long_tail >= LONG_INPUT_TOKENS and space.demo_cuts == (0,) and space.demo_strategies != ("none",):
        changes["demo_cuts"] = (0, 64, 160)
    return replace(space, **changes)
