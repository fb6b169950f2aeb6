"""A candidate prompt as an immutable decomposition into named components.

The id is a hash of the components only (not of lineage), so the same prompt reached twice has
the same id. Lineage (parents, operator) travels with the value for the run store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

LabelStyle = Literal["names", "described"]
DemoStrategy = Literal["none", "fixed", "stratified", "retrieved"]
OutputFormat = Literal["label", "code"]
RetrieverKind = Literal["word", "char", "minilm"]
DemoLayout = Literal["turns", "compact", "labels"]
CutMode = Literal["head", "ends"]
DemoPick = Literal["nearest", "per_label"]
LabelScope = Literal["all", "neighbours"]

RETRIEVERS: tuple[RetrieverKind, ...] = ("word", "char", "minilm")
DEMO_LAYOUTS: tuple[DemoLayout, ...] = ("turns", "compact", "labels")

DEMO_STRATEGIES: tuple[DemoStrategy, ...] = ("none", "fixed", "stratified", "retrieved")

# components added after the first runs: left out of the id while at their default, so the
# candidates of older runs keep their ids
SHRINK_DEFAULTS: dict[str, object] = {
    "input_tokens": 0,
    "input_cut": "head",
    "demo_tokens": 0,
    "demo_pick": "nearest",
    "label_scope": "all",
}


@dataclass(frozen=True)
class Candidate:
    """A prompt decomposition.

    ``demo_ids`` are train example ids for the ``fixed`` and ``stratified`` strategies (their
    order is the order shown); ``k`` is the number of demos per input for ``retrieved``.
    ``label_descriptions`` pairs a label with a short description when ``label_style`` is
    ``described``. ``retriever`` (retrieved demos only) is how neighbours are found: TF-IDF
    over words or over character n-grams, or MiniLM sentence embeddings. ``demo_layout`` is how demos are shown: as chat
    turns, as a compact block in the system message, or (retrieved only) as the list of the
    neighbours' labels without their texts.

    What keeps long inputs and long label lists affordable (see :mod:`promptopt.prompt.shrink`):
    ``input_tokens`` cuts the input to about that many tokens (0: whole), keeping its start
    (``input_cut="head"``) or its start and end (``"ends"``); ``demo_tokens`` cuts each demo's
    text the same way (head); ``demo_pick="per_label"`` (retrieved) takes the nearest neighbour
    of each label instead of the k nearest; ``label_scope="neighbours"`` (retrieved, label
    output) lists only the labels of the retrieved neighbours, next to the input, instead of
    every label in the system message.
    """

    instruction: str
    label_style: LabelStyle = "names"
    label_descriptions: tuple[tuple[str, str], ...] = ()
    demo_strategy: DemoStrategy = "none"
    demo_ids: tuple[str, ...] = ()
    k: int = 0
    output_format: OutputFormat = "label"
    retriever: RetrieverKind = "word"
    demo_layout: DemoLayout = "turns"
    input_tokens: int = 0
    input_cut: CutMode = "head"
    demo_tokens: int = 0
    demo_pick: DemoPick = "nearest"
    label_scope: LabelScope = "all"
    parents: tuple[str, ...] = field(default=(), compare=False)
    operator: str = field(default="seed", compare=False)

    def __post_init__(self) -> None:
        """Reject values that would make two equal prompts differ in id, or render nonsense."""
        if self.demo_strategy not in DEMO_STRATEGIES:
            raise ValueError(f"unknown demo strategy {self.demo_strategy!r}")
        if self.label_style not in ("names", "described"):
            raise ValueError(f"unknown label style {self.label_style!r}")
        if self.output_format not in ("label", "code"):
            raise ValueError(f"unknown output format {self.output_format!r}")
        if self.k < 0:
            raise ValueError(f"k must be >= 0, got {self.k}")
        if self.demo_strategy == "none" and (self.demo_ids or self.k):
            raise ValueError("demo strategy 'none' takes no demos")
        if self.demo_strategy == "retrieved" and (self.demo_ids or self.k < 1):
            raise ValueError("demo strategy 'retrieved' takes k >= 1 and no demo ids")
        if self.demo_strategy in ("fixed", "stratified") and (self.k or not self.demo_ids):
            raise ValueError(f"demo strategy {self.demo_strategy!r} takes demo ids and no k")
        self._check_retrieval_fields()
        self._check_shrink_fields()

    def _check_shrink_fields(self) -> None:
        if self.input_tokens < 0 or self.demo_tokens < 0:
            raise ValueError(f"token lengths must be >= 0, got {self.input_tokens}, {self.demo_tokens}")
        if self.input_cut not in ("head", "ends"):
            raise ValueError(f"unknown input cut {self.input_cut!r}")
        if self.input_cut != "head" and not self.input_tokens:
            raise ValueError("an input cut other than 'head' needs input_tokens > 0")
        if self.demo_tokens and self.demo_strategy == "none":
            raise ValueError("demo strategy 'none' has no demos to cut")
        if self.demo_pick not in ("nearest", "per_label"):
            raise ValueError(f"unknown demo pick {self.demo_pick!r}")
        if self.label_scope not in ("all", "neighbours"):
            raise ValueError(f"unknown label scope {self.label_scope!r}")
        retrieved = self.demo_strategy == "retrieved"
        if (self.demo_pick != "nearest" or self.label_scope != "all") and not retrieved:
            raise ValueError("demo_pick and label_scope other than the default need retrieved demos")
        if self.label_scope != "all" and self.output_format != "label":
            raise ValueError("label_scope 'neighbours' needs the 'label' output format")

    def _check_retrieval_fields(self) -> None:
        if self.retriever not in RETRIEVERS:
            raise ValueError(f"unknown retriever {self.retriever!r}")
        if self.demo_layout not in DEMO_LAYOUTS:
            raise ValueError(f"unknown demo layout {self.demo_layout!r}")
        if self.retriever != "word" and self.demo_strategy != "retrieved":
            raise ValueError("a retriever other than 'word' only applies to retrieved demos")
        if self.demo_layout != "turns" and self.demo_strategy == "none":
            raise ValueError("demo strategy 'none' has no demo layout")
        if self.demo_layout == "labels" and self.demo_strategy != "retrieved":
            raise ValueError("the 'labels' layout only applies to retrieved demos")

    def all_components(self) -> dict[str, Any]:
        """Every component, those at their default included (everything but lineage)."""
        data = asdict(self)
        data.pop("parents")
        data.pop("operator")
        return data

    def components(self) -> dict[str, Any]:
        """The content that defines the prompt (everything but lineage), JSON-ready; the
        components added later are left out while at their default."""
        data = self.all_components()
        for name, default in SHRINK_DEFAULTS.items():
            if data[name] == default:
                data.pop(name)
        return data

    def without_demos(self, *, operator: str) -> Candidate:
        """A child showing no demos (and nothing that goes with them)."""
        return self.derive(
            operator=operator,
            demo_strategy="none",
            demo_ids=(),
            k=0,
            retriever="word",
            demo_layout="turns",
            demo_tokens=0,
            demo_pick="nearest",
            label_scope="all",
        )

    @property
    def id(self) -> str:
        """First 12 hex digits of the sha256 of the canonical JSON of :meth:`components`."""
        canonical = json.dumps(self.components(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    @property
    def n_demos(self) -> int:
        return self.k if self.demo_strategy == "retrieved" else len(self.demo_ids)

    def derive(self, *, operator: str, **changes: Any) -> Candidate:
        """A new candidate with ``changes``, this one as parent."""
        return replace(self, parents=(self.id,), operator=operator, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parents": list(self.parents),
            "operator": self.operator,
            "components": self.components(),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Candidate:
        comp = dict(data["components"])
        comp["label_descriptions"] = tuple(tuple(p) for p in comp.get("label_descriptions", ()))
        comp["demo_ids"] = tuple(comp.get("demo_ids", ()))
        return Candidate(
            parents=tuple(data.get("parents", ())), operator=str(data.get("operator", "seed")), **comp
        )
