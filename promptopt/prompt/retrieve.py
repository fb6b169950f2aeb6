"""Retrievers: the nearest train examples to an input, by TF-IDF cosine (scikit-learn, words or
character n-grams) or by sentence embeddings (any :class:`Embedder`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptopt.task.spec import Example


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
